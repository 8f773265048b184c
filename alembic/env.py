"""Alembic runs on the service's own async engine, so SQLite pragmas and drivers match."""

import asyncio

from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from alembic import context
from app.core.config import Settings
from app.core.database import create_engine

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite can only ALTER through table copies
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    url = config.attributes.get("database_url") or Settings().database_url
    # no statement timeout: a backfill over millions of rows takes minutes (0020 at a million
    # employees), and a migration cut short is rolled back only to be started again
    engine = create_engine(Settings(database_url=url), command_timeout=None)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `brandcast migrate`.")

connection = config.attributes.get("connection")
if connection is not None:
    _configure(connection)
else:
    asyncio.run(_run())
