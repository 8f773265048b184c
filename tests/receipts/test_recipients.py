"""`GET /v1/messages/{id}/recipients`: state filters, pagination, the CSV export, scopes."""

import csv
import io
import uuid
from datetime import timedelta

import pytest

from app.core.database import utcnow
from app.core.principal import Scope
from app.receipts import reports
from tests.messages.helpers import assert_problem
from tests.receipts.helpers import World, as_employee, person

ACK = {
    "requires_acknowledgement": True,
    "acknowledgement_text": "I have read and understood.",
    "acknowledge_within_days": 7,
}
FIELDS = [
    "external_id",
    "display_name",
    "email",
    "department",
    "division",
    "location",
    "country",
    "active",
    "targeted_at",
    "due_at",
    "read_at",
    "acknowledged_at",
    "acknowledged_version",
]


def z(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@pytest.fixture
async def arranged(world: World) -> str:
    """a: read and acknowledged; b: read; c: overdue; d: pending; e: left (deactivated)."""
    await world.people(
        person("a", department="Sales", division="Retail", location="Madrid", country="ES"),
        *(person(x) for x in "bcde"),
    )
    message_id = await world.message(list("abcde"), **ACK)
    now = utcnow()
    await world.set_recipients(message_id, ["a", "b"], read_at=now - timedelta(hours=1))
    await world.set_recipients(message_id, ["a"], acknowledged_at=now, acknowledged_version=1)
    await world.set_recipients(message_id, ["c", "e"], due_at=now - timedelta(days=1))
    await world.set_employee("e", active=False)
    return message_id


async def listed(client, message_id: str, **params) -> list[str]:
    r = await client.get(f"/v1/messages/{message_id}/recipients", params=params)
    assert r.status_code == 200, r.text
    return sorted(item["external_id"] for item in r.json()["items"])


async def test_recipient_fields(world, arranged):
    r = await world.admin.get(f"/v1/messages/{arranged}/recipients")
    assert r.status_code == 200, r.text
    items = {i["external_id"]: i for i in r.json()["items"]}
    assert sorted(items) == list("abcde")
    row = await world.recipient(arranged, "a")
    assert items["a"] == {
        "external_id": "a",
        "display_name": "Employee a",
        "email": "a@example.com",
        "department": "Sales",
        "division": "Retail",
        "location": "Madrid",
        "country": "ES",
        "active": True,
        "targeted_at": z(row.targeted_at),
        "due_at": z(row.due_at),
        "read_at": z(row.read_at),
        "acknowledged_at": z(row.acknowledged_at),
        "acknowledged_version": 1,
    }
    assert items["e"]["active"] is False
    assert items["d"]["read_at"] is None and items["d"]["acknowledged_at"] is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("unread", ["c", "d", "e"]),
        ("read", ["a", "b"]),
        ("acknowledged", ["a"]),
        ("pending", ["b", "c", "d"]),  # e has left
        ("overdue", ["c"]),
    ],
)
async def test_state_filters(world, arranged, state, expected):
    assert await listed(world.admin, arranged, state=state) == expected


async def test_after_reacknowledgement_nobody_is_current(world, arranged):
    r = await world.admin.patch(
        f"/v1/messages/{arranged}", json={"title": "New", "require_reacknowledgement": True}
    )
    assert r.status_code == 200, r.text
    assert await listed(world.admin, arranged, state="acknowledged") == []
    assert await listed(world.admin, arranged, state="pending") == ["a", "b", "c", "d"]
    items = (await world.admin.get(f"/v1/messages/{arranged}/recipients")).json()["items"]
    a = next(i for i in items if i["external_id"] == "a")
    assert (a["acknowledged_at"], a["acknowledged_version"]) == (None, 1)


async def test_pagination(world):
    await world.people(*(f"p{i:02}" for i in range(11)))
    message_id = await world.message([f"p{i:02}" for i in range(11)])
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (
            await world.admin.get(f"/v1/messages/{message_id}/recipients", params=params)
        ).json()
        seen += [i["external_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p{i:02}" for i in range(11)] and len(seen) == 11
    r = await world.admin.get(f"/v1/messages/{message_id}/recipients", params={"limit": 0})
    assert_problem(r, 422)


def parse_csv(r) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == FIELDS
    return [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]]


async def test_csv_export(world, arranged):
    await world.set_employee("b", display_name='=HYPERLINK("http://evil")')
    r = await world.admin.get(f"/v1/messages/{arranged}/recipients", headers={"Accept": "text/csv"})
    rows = {row["external_id"]: row for row in parse_csv(r)}
    assert f'filename="recipients-{arranged}.csv"' in r.headers["content-disposition"]
    assert sorted(rows) == list("abcde")
    recipient = await world.recipient(arranged, "a")
    assert rows["a"] == {
        "external_id": "a",
        "display_name": "Employee a",
        "email": "a@example.com",
        "department": "Sales",
        "division": "Retail",
        "location": "Madrid",
        "country": "ES",
        "active": "true",
        "targeted_at": recipient.targeted_at.isoformat(),
        "due_at": recipient.due_at.isoformat(),
        "read_at": recipient.read_at.isoformat(),
        "acknowledged_at": recipient.acknowledged_at.isoformat(),
        "acknowledged_version": "1",
    }
    assert rows["e"]["active"] == "false"
    assert rows["d"]["read_at"] == "" and rows["d"]["department"] == ""
    # a value a spreadsheet would run as a formula is exported as text
    assert rows["b"]["display_name"] == '\'=HYPERLINK("http://evil")'

    r = await world.admin.get(
        f"/v1/messages/{arranged}/recipients",
        params={"state": "overdue"},
        headers={"Accept": "text/csv, application/json;q=0.5"},
    )
    assert [row["external_id"] for row in parse_csv(r)] == ["c"]
    assert f'filename="recipients-{arranged}-overdue.csv"' in r.headers["content-disposition"]


async def test_csv_export_streams_every_row_in_batches(world, monkeypatch):
    people = [f"p{i:02}" for i in range(23)]
    await world.people(*people)
    message_id = await world.message(people)
    monkeypatch.setattr(reports, "CSV_BATCH", 5)
    r = await world.admin.get(
        f"/v1/messages/{message_id}/recipients",
        params={"limit": 2},  # pagination does not apply to the export
        headers={"Accept": "text/csv"},
    )
    assert sorted(row["external_id"] for row in parse_csv(r)) == people
    monkeypatch.setattr(reports, "CSV_BATCH", 23)  # a last batch that is exactly full
    r = await world.admin.get(
        f"/v1/messages/{message_id}/recipients", headers={"Accept": "text/csv"}
    )
    assert len(parse_csv(r)) == 23


async def test_unknown_message_and_scopes(world, arranged, anon, client_for):
    unknown = f"/v1/messages/{uuid.uuid4()}/recipients"
    assert_problem(await world.admin.get(unknown), 404)
    assert_problem(await world.admin.get(unknown, headers={"Accept": "text/csv"}), 404)
    assert_problem(
        await world.admin.get(f"/v1/messages/{arranged}/recipients", params={"state": "x"}), 422
    )

    url = f"/v1/messages/{arranged}/recipients"
    assert_problem(await anon.get(url), 401)
    narrow = await client_for(Scope.MESSAGES_READ, Scope.EMPLOYEES_READ)
    assert_problem(await narrow.get(url), 403)
    assert_problem(await narrow.get(url, headers={"Accept": "text/csv"}), 403)
    assert_problem(await anon.get(url, headers=as_employee("a")), 403)
    assert (await (await client_for(Scope.RECEIPTS_READ)).get(url)).status_code == 200
