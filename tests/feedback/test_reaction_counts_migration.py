"""Migration 0008 counts the reactions given before it, and goes back down cleanly."""

import asyncio
import uuid

import sqlalchemy as sa

from app.core.config import Settings
from app.core.database import Database, UTCDateTime, utcnow
from app.core.migrations import downgrade, upgrade

BEFORE = "0007_feedback"
AFTER = "0008_reaction_counts"

# only the columns these rows need, as they are at 0007 (the models may have moved on since)
employees = sa.table(
    "employees",
    sa.column("id", sa.Uuid()),
    sa.column("external_id", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("customer_facing", sa.Boolean()),
    sa.column("attributes", sa.JSON()),
    sa.column("revision", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
messages = sa.table(
    "messages",
    sa.column("id", sa.Uuid()),
    sa.column("category", sa.String()),
    sa.column("title", sa.String()),
    sa.column("body", sa.String()),
    sa.column("locale", sa.String()),
    sa.column("translations", sa.JSON()),
    sa.column("priority", sa.String()),
    sa.column("tags", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("acknowledgement_version", sa.Integer()),
    sa.column("recipient_count", sa.Integer()),
    sa.column("revision", sa.Integer()),
    sa.column("created_by", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
reactions = sa.table(
    "reactions",
    sa.column("message_id", sa.Uuid()),
    sa.column("employee_id", sa.Uuid()),
    sa.column("reaction", sa.String()),
    sa.column("reacted_at", UTCDateTime()),
)
counts = sa.table(
    "message_reaction_counts",
    sa.column("message_id", sa.Uuid()),
    sa.column("reaction", sa.String()),
    sa.column("count", sa.Integer()),
)


async def test_backfill_counts_existing_reactions(empty_database: str):
    url = empty_database
    await asyncio.to_thread(upgrade, url, BEFORE)
    db = Database(Settings(database_url=url))
    now = utcnow()
    people = [uuid.uuid4() for _ in range(6)]
    popular, quiet, untouched = (uuid.uuid4() for _ in range(3))
    given = {
        popular: ["love", "love", "love", "like", "concerned", "love"],
        quiet: ["insightful"],
        untouched: [],
    }
    try:
        async with db.session_scope() as s:
            await s.execute(
                sa.insert(employees),
                [
                    {
                        "id": e,
                        "external_id": f"E-{i}",
                        "active": True,
                        "customer_facing": False,
                        "attributes": {},
                        "revision": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, e in enumerate(people)
                ],
            )
            await s.execute(
                sa.insert(messages),
                [
                    {
                        "id": m,
                        "category": "news",
                        "title": "Hello",
                        "body": "",
                        "locale": "en",
                        "translations": {},
                        "priority": "normal",
                        "tags": [],
                        "status": "published",
                        "version": 1,
                        "acknowledgement_version": 1,
                        "recipient_count": 0,
                        "revision": 1,
                        "created_by": "tests",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for m in given
                ],
            )
            await s.execute(
                sa.insert(reactions),
                [
                    {"message_id": m, "employee_id": e, "reaction": k, "reacted_at": now}
                    for m, kinds in given.items()
                    for e, k in zip(people, kinds, strict=False)
                ],
            )

        await asyncio.to_thread(upgrade, url, AFTER)
        async with db.session_scope() as s:
            rows = (await s.execute(sa.select(counts))).all()
        assert {(m, k): n for m, k, n in rows} == {
            (popular, "love"): 4,
            (popular, "like"): 1,
            (popular, "concerned"): 1,
            (quiet, "insightful"): 1,
        }

        await asyncio.to_thread(downgrade, url, BEFORE)
        async with db.session_scope() as s:
            left = (await s.execute(sa.select(sa.func.count()).select_from(reactions))).scalar()
            tables = await s.run_sync(lambda sync: sa.inspect(sync.connection()).get_table_names())
        assert left == 7 and "message_reaction_counts" not in tables
    finally:
        await db.dispose()
