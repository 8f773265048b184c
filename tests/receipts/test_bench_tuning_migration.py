"""Migration 0009 drops the recipients' foreign key to employees, and puts it back going down."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import create_engine
from app.core.migrations import downgrade, upgrade
from tests.conftest import PG_URL, _pg_admin

BEFORE = "0008_reaction_counts"
AFTER = "0009_bench_tuning"


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, not migrated yet."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    name = f"brandcast_migration_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"', PG_URL)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', PG_URL)


async def _recipient_keys(url: str) -> set[tuple[str, ...]]:
    """The tables the recipients' foreign keys point to, with their columns."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            keys = await conn.run_sync(lambda c: sa.inspect(c).get_foreign_keys("recipients"))
    finally:
        await engine.dispose()
    return {(k["referred_table"], *k["constrained_columns"]) for k in keys}


async def test_drops_the_employee_key_and_restores_it(empty_database: str):
    url = empty_database
    await asyncio.to_thread(upgrade, url, BEFORE)
    assert await _recipient_keys(url) == {
        ("messages", "message_id"),
        ("employees", "employee_id"),
    }

    await asyncio.to_thread(upgrade, url, AFTER)
    assert await _recipient_keys(url) == {("messages", "message_id")}

    await asyncio.to_thread(downgrade, url, BEFORE)
    assert await _recipient_keys(url) == {
        ("messages", "message_id"),
        ("employees", "employee_id"),
    }
