"""Publication fan-out and late joiners, through the receipts service functions.

The HTTP publish tests belong to the messages area once its endpoints call these.
"""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.audiences.models import Audience
from app.audiences.service import (
    get_message_audience_ids,
    message_audience_specs,
    set_message_audiences,
)
from app.core.database import utcnow
from app.core.errors import ValidationFailed
from app.employees.models import Employee
from app.messages.models import Message, Status
from app.receipts.models import Recipient
from app.receipts.service import enroll_late_joiners, materialize_recipients
from tests.audiences.conftest import employee


async def add_audience(db, rule, include=(), exclude=()) -> uuid.UUID:
    audience = Audience(
        name="a",
        rule=rule,
        include_external_ids=list(include),
        exclude_external_ids=list(exclude),
        created_by="tests",
    )
    async with db() as s, s.begin():
        s.add(audience)
    return audience.id


def leaf(attribute, op, value):
    return {"attribute": attribute, "op": op, "value": value}


async def recipients(db, message_id) -> dict[uuid.UUID, Recipient]:
    async with db() as s:
        rows = await s.execute(select(Recipient).where(Recipient.message_id == message_id))
        return {r.employee_id: r for r in rows.scalars()}


async def recipient_count(db, message_id) -> int:
    async with db() as s:
        return (
            await s.execute(select(Message.recipient_count).where(Message.id == message_id))
        ).scalar_one()


async def materialize(s, *, message_id, published_at) -> int:
    """What publishing does: resolve the message's audiences, store the count on it."""
    message = await s.get(Message, message_id)
    specs = await message_audience_specs(s, message_id=message_id)
    count = await materialize_recipients(
        s,
        message_id=message_id,
        audiences=[spec for _, spec in specs],
        published_at=published_at,
        acknowledge_within_days=message.acknowledge_within_days,
    )
    await s.execute(update(Message).where(Message.id == message_id).values(recipient_count=count))
    return count


async def test_overlapping_audiences_give_each_employee_once(db, people, add_message):
    sales = await add_audience(db, leaf("department", "eq", "Sales"))
    spanish = await add_audience(db, leaf("locale", "starts_with", "es"), include=["e4"])
    listed = await add_audience(db, {"any": []}, include=["e1", "e3", "x6"], exclude=["e3"])
    message = await add_message(
        Status.PUBLISHED, [sales, spanish, listed], acknowledge_within_days=7
    )
    published_at = utcnow()

    async with db() as s, s.begin():
        count = await materialize(s, message_id=message, published_at=published_at)
    expected = {people[e] for e in ("e1", "e2", "e4", "e5")}
    assert count == 4
    rows = await recipients(db, message)
    assert set(rows) == expected
    for row in rows.values():
        assert row.targeted_at == published_at
        assert row.due_at == published_at + timedelta(days=7)
        assert row.read_at is None and row.acknowledged_at is None
    assert await recipient_count(db, message) == 4

    # a second run (a retried or concurrent publish) adds nothing and keeps the rows
    async with db() as s, s.begin():
        again = await materialize(
            s, message_id=message, published_at=published_at + timedelta(hours=1)
        )
    assert again == 4
    assert {k: v.targeted_at for k, v in (await recipients(db, message)).items()} == dict.fromkeys(
        expected, published_at
    )


async def test_everyone_and_no_due_date(db, people, add_message):
    everyone = await add_audience(db, {"all": []})
    message = await add_message(Status.PUBLISHED, [everyone])
    async with db() as s, s.begin():
        assert await materialize(s, message_id=message, published_at=utcnow()) == 5
    assert all(r.due_at is None for r in (await recipients(db, message)).values())


async def test_message_without_audiences_has_no_recipients(db, people, add_message):
    message = await add_message(Status.PUBLISHED)
    async with db() as s, s.begin():
        assert await materialize(s, message_id=message, published_at=utcnow()) == 0
    assert await recipients(db, message) == {}


async def test_rollback_leaves_no_recipients(db, people, add_message):
    everyone = await add_audience(db, {"all": []})
    message = await add_message(Status.PUBLISHED, [everyone])
    async with db() as s, s.begin():
        await materialize(s, message_id=message, published_at=utcnow())
        await s.rollback()
    assert await recipients(db, message) == {}


async def test_late_joiners(db, people, add_employees, add_message):
    sales = await add_audience(db, leaf("department", "eq", "Sales"))
    frontline = await add_audience(db, leaf("customer_facing", "eq", True))
    published_at = utcnow() - timedelta(days=3)
    live = await add_message(
        Status.PUBLISHED,
        [sales, frontline],
        published_at=published_at,
        acknowledge_within_days=10,
    )
    no_deadline = await add_message(Status.PUBLISHED, [sales], published_at=published_at)
    expired = await add_message(Status.PUBLISHED, [sales], expires_at=utcnow())
    archived = await add_message(Status.ARCHIVED, [sales])
    draft = await add_message(Status.DRAFT, [sales])
    scheduled = await add_message(Status.SCHEDULED, [sales])
    async with db() as s, s.begin():
        for m in (live, no_deadline, expired):
            await materialize(s, message_id=m, published_at=published_at)
    assert await recipient_count(db, live) == 3  # e1, e2 (Sales), e5 (customer-facing)
    assert await recipient_count(db, no_deadline) == 2

    # a new hire in Sales, a mover into a customer-facing job, someone leaving Sales,
    # an inactive Sales hire and someone unrelated
    hire, inactive_hire, unrelated = await add_employees(
        [
            employee("n1", department="Sales"),
            employee("n2", department="Sales", active=False),
            employee("n3", department="Legal"),
        ]
    )
    async with db() as s, s.begin():
        await s.execute(
            update(Employee)
            .where(Employee.external_id == "e3")
            .values(customer_facing=True, department="Support")
        )
        await s.execute(
            update(Employee).where(Employee.external_id == "e1").values(department="Legal")
        )
    changed = [hire, inactive_hire, unrelated, people["e3"], people["e1"]]
    before = utcnow()
    async with db() as s, s.begin():
        added = await enroll_late_joiners(s, employee_ids=[*changed, hire])
    after = utcnow()
    # n1 into both live messages, e3 into `live` (through the frontline audience)
    assert added == 3

    rows = await recipients(db, live)
    assert set(rows) == {people[e] for e in ("e1", "e2", "e5", "e3")} | {hire}
    for late in (hire, people["e3"]):
        assert before <= rows[late].targeted_at <= after
        assert rows[late].due_at == rows[late].targeted_at + timedelta(days=10)
    # e1 stopped matching Sales but is customer-facing; in `no_deadline` it stops matching
    # altogether and stays a recipient as it was
    assert rows[people["e1"]].targeted_at == published_at
    assert rows[people["e1"]].due_at == published_at + timedelta(days=10)
    others = await recipients(db, no_deadline)
    assert set(others) == {people["e1"], people["e2"], hire}
    assert others[hire].due_at is None
    for m in (expired, archived, draft, scheduled):
        assert hire not in await recipients(db, m)
    assert await recipient_count(db, live) == 5
    assert await recipient_count(db, no_deadline) == 3

    # nothing new the second time
    async with db() as s, s.begin():
        assert await enroll_late_joiners(s, employee_ids=changed) == 0
        assert await enroll_late_joiners(s, employee_ids=[]) == 0
    assert await recipient_count(db, live) == 5

    # the inactive hire is enrolled once reactivated
    async with db() as s, s.begin():
        await s.execute(update(Employee).where(Employee.id == inactive_hire).values(active=True))
        assert await enroll_late_joiners(s, employee_ids=[inactive_hire]) == 2
    async with db() as s:
        total = (await s.execute(select(func.count()).select_from(Recipient))).scalar_one()
    assert total == await recipient_count(db, live) + await recipient_count(
        db, no_deadline
    ) + await recipient_count(db, expired)
    assert await recipient_count(db, live) == 6


async def test_late_joiners_without_live_messages(db, people, add_message):
    sales = await add_audience(db, leaf("department", "eq", "Sales"))
    await add_message(Status.DRAFT, [sales])
    async with db() as s, s.begin():
        assert await enroll_late_joiners(s, employee_ids=list(people.values())) == 0


async def test_late_joiners_in_large_batches(db, add_employees, add_message):
    everyone = await add_audience(db, {"all": []}, exclude=["b00007"])
    message = await add_message(Status.PUBLISHED, [everyone])
    ids = await add_employees([employee(f"b{i:05}") for i in range(6_000)])
    async with db() as s, s.begin():
        assert await enroll_late_joiners(s, employee_ids=ids) == 5_999
    assert await recipient_count(db, message) == 5_999


async def test_message_audiences(db, add_message):
    a, b, c = [await add_audience(db, {"all": []}) for _ in range(3)]
    first = await add_message()
    second = await add_message()
    unknown = uuid.uuid4()

    async with db() as s, s.begin():
        await set_message_audiences(s, message_id=first, audience_ids=[c, a, c, b])
        await set_message_audiences(s, message_id=second, audience_ids=[b])
    async with db() as s:
        got = await get_message_audience_ids(s, message_ids=[first, second, unknown])
    assert got == {first: [c, a, b], second: [b], unknown: []}

    async with db() as s, s.begin():
        with pytest.raises(ValidationFailed) as failed:
            await set_message_audiences(s, message_id=first, audience_ids=[a, unknown, b, unknown])
    assert [e["loc"] for e in failed.value.extra["errors"]] == [
        "body.audience_ids[1]",
        "body.audience_ids[3]",
    ]

    async with db() as s, s.begin():
        await set_message_audiences(s, message_id=first, audience_ids=[b])
        await set_message_audiences(s, message_id=second, audience_ids=[])
    async with db() as s:
        assert await get_message_audience_ids(s, message_ids=[first, second]) == {
            first: [b],
            second: [],
        }
        assert await get_message_audience_ids(s, message_ids=[]) == {}
