"""Migration 0009 drops the recipients' foreign key to employees, and puts it back going down."""

import asyncio

import sqlalchemy as sa

from app.core.config import Settings
from app.core.database import create_engine
from app.core.migrations import downgrade, upgrade

BEFORE = "0008_reaction_counts"
AFTER = "0009_bench_tuning"


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
