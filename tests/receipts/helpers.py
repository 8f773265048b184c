"""Arrange employees and published messages for the feed and receipts tests.

Messages are created and published through the HTTP API; their audience (an explicit list of
employees) is attached in the database, so these tests do not depend on how `audience_ids`
is wired into the messages API.
"""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audiences.models import Audience, MessageAudience
from app.core.database import utcnow
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts.models import Recipient
from tests.me.conftest import bearer, hs256


def person(external_id: str, **fields: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "external_id": external_id,
        "email": f"{external_id.lower()}@example.com",
        "display_name": f"Employee {external_id}",
        "customer_facing": False,
        "active": True,
        "attributes": {},
        "revision": 1,
        "created_at": now,
        "updated_at": now,
        **fields,
    }


class World:
    """The test's database and admin client, with short ways to arrange what tests need."""

    def __init__(self, db: Callable[[], AsyncSession], admin: httpx.AsyncClient) -> None:
        self.db = db
        self.admin = admin
        self.ids: dict[str, uuid.UUID] = {}

    async def people(self, *rows: dict[str, Any] | str) -> dict[str, uuid.UUID]:
        """Insert employees (an external id alone, or a `person(...)` dict)."""
        rows = [person(r) if isinstance(r, str) else r for r in rows]
        async with self.db() as s, s.begin():
            await s.execute(insert(Employee), rows)
        self.ids.update({r["external_id"]: r["id"] for r in rows})
        return {r["external_id"]: r["id"] for r in rows}

    async def draft(self, **fields: Any) -> str:
        body = {"category": "news", "title": "Hello", "body": "Body", **fields}
        r = await self.admin.post("/v1/messages", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def send_to(self, message_id: str, external_ids: Iterable[str]) -> None:
        """Give the message an audience listing exactly these employees."""
        audience = Audience(
            name=f"for {message_id}",
            rule={"any": []},
            include_external_ids=list(external_ids),
            created_by="tests",
        )
        async with self.db() as s, s.begin():
            s.add(audience)
            await s.flush()
            await s.execute(
                insert(MessageAudience).values(
                    message_id=uuid.UUID(message_id), audience_id=audience.id, position=0
                )
            )

    async def publish(self, message_id: str) -> dict[str, Any]:
        r = await self.admin.post(f"/v1/messages/{message_id}/publish", json={})
        assert r.status_code == 200, r.text
        return r.json()

    async def message(self, to: Iterable[str], **fields: Any) -> str:
        """A message published to these employees; returns its id."""
        message_id = await self.draft(**fields)
        await self.send_to(message_id, to)
        await self.publish(message_id)
        return message_id

    async def set_message(self, message_id: str, **values: Any) -> None:
        async with self.db() as s, s.begin():
            await s.execute(
                update(Message).where(Message.id == uuid.UUID(message_id)).values(**values)
            )
            if "published_at" in values:  # recipients carry it, as publishing writes it
                await s.execute(
                    update(Recipient)
                    .where(Recipient.message_id == uuid.UUID(message_id))
                    .values(published_at=values["published_at"])
                )

    async def set_employee(self, external_id: str, **values: Any) -> None:
        async with self.db() as s, s.begin():
            await s.execute(
                update(Employee).where(Employee.external_id == external_id).values(**values)
            )

    async def set_recipients(self, message_id: str, external_ids: Iterable[str], **values) -> None:
        ids = [self.ids[e] for e in external_ids]
        async with self.db() as s, s.begin():
            await s.execute(
                update(Recipient)
                .where(
                    Recipient.message_id == uuid.UUID(message_id), Recipient.employee_id.in_(ids)
                )
                .values(**values)
            )

    async def recipient(self, message_id: str, external_id: str) -> Recipient | None:
        async with self.db() as s:
            return (
                await s.execute(
                    select(Recipient).where(
                        Recipient.message_id == uuid.UUID(message_id),
                        Recipient.employee_id == self.ids[external_id],
                    )
                )
            ).scalar_one_or_none()


def as_employee(external_id: str, **claims: Any) -> dict[str, str]:
    """Headers of a request signed in as this employee."""
    return bearer(hs256(external_id, **claims))
