"""Bring a database to the newest schema with the project's Alembic migrations.

The Alembic scripts and `alembic.ini` live at the top of the repository; the build maps them into
the package as `app/migrations/` (pyproject.toml), so an installed wheel carries them and finds
them with `importlib.resources`, whatever the current folder. An editable install of a checkout
has no such folder in the package: there the scripts are read where they are written, at the
top of the checkout.
"""

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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


@dataclass(frozen=True)
class MigrationState:
    """Where a database's schema is, against the newest migration of this version."""

    current: str | None  # None: never migrated (no alembic_version row)
    head: str
    known: bool  # the current revision is one of this version's scripts

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.current is None:
            return f"not migrated (newest: {self.head})"
        if self.at_head:
            return f"at {self.head} (newest)"
        if not self.known:
            return f"at {self.current}, which this version does not know (newest here: {self.head})"
        return f"at {self.current}, behind {self.head}"


def _current_revision(connection: Connection) -> str | None:
    # reading the revision is not a migration: no "Context impl …" lines in the log
    alembic_log = logging.getLogger("alembic.runtime.migration")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(connection).get_current_revision()
    finally:
        alembic_log.setLevel(level)


async def migration_state(engine: AsyncEngine) -> MigrationState:
    """The schema revision of the database behind `engine`; reads only (creates nothing)."""
    script = ScriptDirectory.from_config(alembic_config(database_url="unused"))
    head = script.get_current_head() or ""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revision)
    known = current is not None and current in {s.revision for s in script.walk_revisions()}
    return MigrationState(current=current, head=head, known=known)


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
