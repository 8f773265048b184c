"""The committed migrations and OpenAPI document must match the code."""

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.core.database import Database
from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]


async def test_migrations_match_models(settings):
    db = Database(settings)

    def _diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await db.dispose()
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"


def test_openapi_document_is_current():
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    assert committed == create_app().openapi(), (
        "openapi/openapi.json is stale: run `brandcast openapi --output openapi/openapi.json`"
    )


def test_every_operation_has_one_tag_an_id_and_a_summary():
    """What integrators read: each operation listed once (a second tag lists it twice in
    /docs and /redoc), under a unique operationId, with a summary."""
    document = create_app().openapi()
    declared = {tag["name"] for tag in document["tags"]}
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert len(operation.get("tags", [])) == 1, where
            assert operation["tags"][0] in declared, where
            assert operation.get("summary"), where
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
