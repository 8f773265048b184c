"""Bring a database to the newest schema with the project's Alembic migrations.

The Alembic scripts and `alembic.ini` live at the top of the repository; the build maps them into
the package as `app/migrations/` (pyproject.toml), so an installed wheel carries them and finds
them with `importlib.resources`, whatever the current folder. An editable install of a checkout
has no such folder in the package: there the scripts are read where they are written, at the
top of the checkout.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic.config import Config

from alembic import command
from app.core.config import get_settings

PACKAGED = "migrations"  # in the wheel: app/migrations/{env.py,versions/,alembic.ini}


class MigrationsNotFound(RuntimeError):
    """Neither the package nor a source checkout holds the Alembic scripts."""


@dataclass(frozen=True)
class Scripts:
    location: Path  # the folder holding env.py and versions/
    ini: Path


def find_scripts() -> Scripts:
    """Where the Alembic scripts are: in the package (a wheel), else at the top of a checkout."""
    packaged = resources.files("app") / PACKAGED
    if packaged.is_dir() and (packaged / "env.py").is_file():
        # installed packages are plain folders (pip unpacks wheels), so this is a real path
        location = Path(str(packaged))
        return Scripts(location=location, ini=location / "alembic.ini")
    checkout = Path(str(resources.files("app"))).resolve().parent
    if (checkout / "alembic" / "env.py").is_file():
        return Scripts(location=checkout / "alembic", ini=checkout / "alembic.ini")
    raise MigrationsNotFound(
        f"no Alembic scripts in {packaged} nor in {checkout / 'alembic'}: "
        "reinstall brandcast from its wheel"
    )


def alembic_config(database_url: str | None = None) -> Config:
    scripts = find_scripts()
    config = Config(str(scripts.ini))
    # the ini's own script_location is relative to where it sits in the repository
    # (a `%` would read as interpolation)
    config.set_main_option("script_location", str(scripts.location).replace("%", "%%"))
    config.attributes["database_url"] = database_url or get_settings().database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
