"""Where `brandcast migrate` finds the Alembic scripts: in the package (an installed wheel),
else at the top of a checkout (an editable install); never relative to the current folder.
`.ci/wheel-smoke` checks the real wheel; these check the choice itself."""

import asyncio
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core import migrations
from app.core.config import Settings
from app.core.database import create_engine

CHECKOUT = Path(__file__).resolve().parents[2]


def packaged_app(tmp_path: Path) -> Path:
    """A folder laid out as the wheel lays out `app/`: the scripts and alembic.ini inside."""
    package = tmp_path / "site-packages" / "app"
    shutil.copytree(CHECKOUT / "alembic", package / "migrations")
    shutil.copyfile(CHECKOUT / "alembic.ini", package / "migrations" / "alembic.ini")
    return package


async def _tables(url: str) -> set[str]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_a_checkout_uses_its_top_level_scripts():
    scripts = migrations.find_scripts()
    assert scripts.location == CHECKOUT / "alembic"
    assert scripts.ini == CHECKOUT / "alembic.ini"


async def test_an_installed_package_uses_its_own_copy_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    package = packaged_app(tmp_path)
    monkeypatch.setattr(migrations.resources, "files", lambda name: package)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    scripts = migrations.find_scripts()
    assert scripts.location == package / "migrations"
    assert scripts.ini == package / "migrations" / "alembic.ini"

    url = f"sqlite:///{tmp_path / 'installed.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    assert {"alembic_version", "messages", "employees", "recipients"} <= await _tables(url)
    assert list(elsewhere.iterdir()) == []  # nothing written to the current folder


def test_no_scripts_anywhere_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bare = tmp_path / "site-packages" / "app"
    bare.mkdir(parents=True)
    monkeypatch.setattr(migrations.resources, "files", lambda name: bare)
    with pytest.raises(migrations.MigrationsNotFound, match="reinstall brandcast"):
        migrations.find_scripts()
