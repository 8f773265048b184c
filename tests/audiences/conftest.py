"""Arrange employees, messages and their audiences directly in the database."""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from app.audiences.models import MessageAudience
from app.core.database import utcnow
from app.employees.models import Employee
from app.messages.models import Message, Status

TODAY = utcnow().date()


def employee(external_id: str, **fields: Any) -> dict[str, Any]:
    now = utcnow()
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "external_id": external_id,
        "display_name": f"Employee {external_id}",
        "customer_facing": False,
        "active": True,
        "attributes": {},
        "revision": 1,
        "created_at": now,
        "updated_at": now,
    }
    row.update(fields)
    return row


# A small directory covering each attribute type, with one employee who has nothing set
# (e4), custom attributes of mismatched JSON types (e3) and an inactive look-alike (x6).
PEOPLE = [
    employee(
        "e1",
        department="Sales",
        division="Retail",
        location="Madrid",
        country="ES",
        job_title="Store Manager",
        job_level=5,
        employment_type="full_time",
        customer_facing=True,
        hire_date=date(2024, 3, 1),
        locale="es-ES",
        manager_external_id="m1",
        attributes={"cost_center": "4100", "shift_hours": 8, "union_member": True},
    ),
    employee(
        "e2",
        department="Sales",
        division="Retail",
        location="Mexico City",
        country="MX",
        job_title="Sales Associate",
        job_level=2,
        employment_type="part_time",
        customer_facing=True,
        hire_date=TODAY - timedelta(days=30),
        locale="es-MX",
        manager_external_id="e1",
        attributes={"cost_center": "4200", "shift_hours": 6.5, "union_member": False},
    ),
    employee(
        "e3",
        department="Engineering",
        division="Tech",
        location="Berlin",
        country="DE",
        job_title="Engineer",
        job_level=3,
        employment_type="full_time",
        customer_facing=False,
        hire_date=date(2023, 1, 10),
        locale="de-DE",
        manager_external_id="m2",
        attributes={"cost_center": 4100, "shift_hours": "8"},
    ),
    employee("e4"),
    employee(
        "e5",
        department="Support",
        division="Service",
        location="Buenos Aires",
        country="AR",
        job_title="Agent",
        job_level=1,
        employment_type="contractor",
        customer_facing=True,
        hire_date=date(2024, 12, 31),
        locale="es-AR",
        manager_external_id="e1",
        attributes={"union_member": True},
    ),
    employee(
        "x6",
        active=False,
        department="Sales",
        country="ES",
        customer_facing=True,
        job_level=5,
        attributes={"cost_center": "4100"},
    ),
]


@pytest.fixture
def add_employees(db) -> Callable[[Iterable[dict[str, Any]]], Awaitable[list[uuid.UUID]]]:
    async def _add(rows: Iterable[dict[str, Any]]) -> list[uuid.UUID]:
        rows = [dict(r, id=uuid.uuid4()) for r in rows]  # fresh ids: PEOPLE is shared
        async with db() as s, s.begin():
            await s.execute(insert(Employee), rows)
        return [r["id"] for r in rows]

    return _add


@pytest.fixture
async def people(add_employees) -> dict[str, uuid.UUID]:
    ids = await add_employees(PEOPLE)
    return {p["external_id"]: i for p, i in zip(PEOPLE, ids, strict=True)}


@pytest.fixture
def add_message(db) -> Callable[..., Awaitable[uuid.UUID]]:
    """A message row in the given status, going to the given audiences."""

    async def _add(
        status: Status = Status.DRAFT, audience_ids: Iterable[uuid.UUID] = (), **fields: Any
    ) -> uuid.UUID:
        now = utcnow()
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "category": "news",
            "title": "A message",
            "body": "Hello",
            "locale": "en",
            "translations": {},
            "priority": "normal",
            "tags": [],
            "status": status,
            "version": 1,
            "acknowledgement_version": 1,
            "recipient_count": 0,
            "revision": 1,
            "created_by": "tests",
            "created_at": now,
            "updated_at": now,
        }
        if status == Status.PUBLISHED:
            values["published_at"] = now
        values.update(fields)
        async with db() as s, s.begin():
            await s.execute(insert(Message).values(**values))
            rows = [
                {"message_id": values["id"], "audience_id": a, "position": i}
                for i, a in enumerate(audience_ids)
            ]
            if rows:
                await s.execute(insert(MessageAudience), rows)
        return values["id"]

    return _add
