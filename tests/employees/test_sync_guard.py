"""POST /v1/employees/bulk: `dry_run` previews a sync without changing anything, and a full
sync that would deactivate more than BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE of the active
directory is refused unless `allow_mass_deactivation` (an HRIS export cut short must not wipe
the company)."""

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.config import Settings
from app.core.principal import Scope
from app.employees.models import Employee
from app.employees.schemas import MAX_LISTED_DEACTIVATIONS
from app.main import create_app
from app.receipts.models import Recipient
from tests.employees.conftest import person


async def sync(client, employees, **options):
    return await client.post("/v1/employees/bulk", json={"employees": employees, **options})


async def snapshot(db) -> tuple[list[tuple], int, int]:
    """Every employee row as stored, and how many audit events and recipients there are."""
    async with db() as s:
        rows = (await s.execute(select(Employee).order_by(Employee.external_id))).scalars().all()
        audit = (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
        recipients = (await s.execute(select(func.count()).select_from(Recipient))).scalar_one()
    columns = [c.name for c in Employee.__table__.columns]
    return [tuple(getattr(r, c) for c in columns) for r in rows], audit, recipients


async def test_a_short_export_is_refused_and_changes_nothing(writer, db):
    assert (await sync(writer, [person(n) for n in range(1, 101)])).status_code == 200
    before = await snapshot(db)

    r = await sync(writer, [person(n) for n in range(1, 12)], mode="full_sync")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:brandcast:problem:mass-deactivation"
    assert body["would_deactivate"] == 89
    assert body["active"] == 100
    assert body["max_share"] == 0.1
    assert body["deactivated_external_ids"][:2] == ["E00012", "E00013"]
    assert len(body["deactivated_external_ids"]) == 89
    assert "89 of 100 active employees (89%)" in body["detail"]
    assert "allow_mass_deactivation" in body["detail"]
    assert "dry_run" in body["detail"]
    assert await snapshot(db) == before

    # allowed explicitly, it goes through
    r = await sync(
        writer, [person(n) for n in range(1, 12)], mode="full_sync", allow_mass_deactivation=True
    )
    assert r.status_code == 200, r.text
    assert r.json()["deactivated"] == 89
    async with db() as s:
        active = select(func.count()).select_from(Employee).where(Employee.active.is_(True))
        assert (await s.execute(active)).scalar_one() == 11


async def test_up_to_the_share_passes_without_the_flag(writer, rows):
    await sync(writer, [person(n) for n in range(1, 21)])
    r = await sync(writer, [person(n) for n in range(1, 19)], mode="full_sync")
    assert r.status_code == 200, r.text  # 2 of 20: exactly 10%
    assert r.json()["deactivated_external_ids"] == ["E00019", "E00020"]
    # upserts never deactivate, so they are never refused
    r = await sync(writer, [person(1)])
    assert r.status_code == 200
    # the flag is about deactivations: an upsert may carry it
    r = await sync(writer, [person(1)], allow_mass_deactivation=True)
    assert r.status_code == 200


@pytest.fixture
async def writer_with(settings, mint_token):
    """A writer's client of an app on the same database with some settings changed."""
    cleanups = []

    async def _make(**overrides):
        manager = LifespanManager(create_app(Settings(**{**settings.model_dump(), **overrides})))
        await manager.__aenter__()
        token = await mint_token(Scope.EMPLOYEES_READ, Scope.EMPLOYEES_WRITE)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        )
        cleanups.append((manager, client))
        return client

    yield _make
    for manager, client in reversed(cleanups):
        await client.aclose()
        await manager.__aexit__(None, None, None)


@pytest.mark.parametrize(("share", "status"), [(0.0, 409), (0.5, 200), (1.0, 200)])
async def test_the_share_is_a_setting(writer_with, share, status):
    client = await writer_with(sync_max_deactivation_share=share)
    await sync(client, [person(n) for n in range(1, 11)])
    r = await sync(client, [person(n) for n in range(1, 6)], mode="full_sync")  # 5 of 10
    assert r.status_code == status, r.text


async def test_dry_run_answers_the_same_and_changes_nothing(writer, db, everyone, admin):
    await sync(writer, [person(n) for n in range(1, 31)])
    body = {"category": "brand_promise", "title": "Our promise", "audience_ids": [everyone]}
    message = await admin.post("/v1/messages", json=body)
    assert message.status_code == 201, message.text
    published = await admin.post(f"/v1/messages/{message.json()['id']}/publish", json={})
    assert published.status_code == 200, published.text
    before = await snapshot(db)

    batch = [person(n) for n in range(1, 6)]
    batch[0] = person(1, department="Marketing")
    batch += [person(100), person(101)]
    preview = await sync(writer, batch, mode="full_sync", dry_run=True)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "created": 2,
        "updated": 1,
        "unchanged": 4,
        "deactivated": 25,
        "deactivated_external_ids": [f"E{n:05d}" for n in range(6, 31)],
        "dry_run": True,
    }
    # nothing moved: employees, audit trail, the new hires' deliveries
    assert await snapshot(db) == before

    # a dry run is not refused (it shows how many there would be); the real call then is
    assert (await sync(writer, batch, mode="full_sync")).status_code == 409
    real = await sync(writer, batch, mode="full_sync", allow_mass_deactivation=True)
    assert real.status_code == 200
    assert real.json() == {**preview.json(), "dry_run": False}
    assert await snapshot(db) != before


async def test_dry_run_reports_bad_records_like_a_real_sync(writer, rows):
    await sync(writer, [person(1)])
    batch = [person(2), person(3, email="PERSON1@example.com"), person(2)]
    preview = await sync(writer, batch, dry_run=True)
    real = await sync(writer, batch)
    assert preview.status_code == real.status_code == 422
    assert preview.json()["errors"] == real.json()["errors"]
    assert set(await rows()) == {"E00001"}


async def test_the_list_of_deactivations_is_capped_and_the_count_is_whole(writer):
    total = MAX_LISTED_DEACTIVATIONS + 200
    await sync(writer, [person(n) for n in range(total + 1)])
    r = await sync(writer, [person(0)], mode="full_sync", dry_run=True)
    assert r.status_code == 200
    assert r.json()["deactivated"] == total
    listed = r.json()["deactivated_external_ids"]
    assert len(listed) == MAX_LISTED_DEACTIVATIONS
    assert listed == sorted(listed) and listed[0] == "E00001"


async def test_the_flags_are_booleans(writer):
    for body in ({"dry_run": "maybe"}, {"allow_mass_deactivation": 3}):
        r = await sync(writer, [person(1)], **body)
        assert r.status_code == 422
        assert r.json()["errors"][0]["loc"] == f"body.{next(iter(body))}"


async def test_a_reader_cannot_even_preview(client_for):
    reader = await client_for(Scope.EMPLOYEES_READ)
    r = await sync(reader, [person(1)], dry_run=True)
    assert r.status_code == 403
