"""`Idempotency-Key` on the requests that create things: a retried POST gets the first
answer again instead of making a second message, audience or comment.

The key is claimed in the request's own transaction, so it commits with what the request
made and vanishes with its rollback (a failed request may be retried with the same key).
Two requests racing with one key meet on the table's unique index: on PostgreSQL the second
waits for the first to commit and then replays its answer; SQLite runs writers one at a time.
Keys are scoped to the credential that sent them and kept for `KEY_LIFETIME`.

Not offered where the answer holds a secret shown once (API tokens, webhook signing secrets):
keeping it for replays would store the secret in the clear.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, Index, Integer, String, Table, UniqueConstraint, and_, delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from app.core import sql
from app.core.database import JSONType, UTCDateTime, utcnow
from app.core.errors import Conflict, ValidationFailed, field_error
from app.core.hashing import canonical_sha256
from app.core.principal import Principal
from app.core.session import SessionDep

KEY_LIFETIME = timedelta(hours=24)
KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# headers of the first answer that a replay repeats
KEPT_HEADERS = ("location", "etag")


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("owner", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(sa_column=Column(String(300), nullable=False))
    key: str = Field(sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSONType))
    body: Any = Field(default=None, sa_column=Column(JSONType))


KeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description="A unique value per intended request (a UUID, say), printable ASCII. "
        "Retrying with the same key within 24 hours answers the first request's status and body "
        f"again (with `{REPLAYED_HEADER}: true`) instead of creating a second resource; the "
        "same key with another body or path is a 422.",
    ),
]

_KEYS: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
_CLAIM = sql.insert_ignore(_KEYS, ["owner", "key"], returning=[_KEYS.c.id])


def fingerprint(path: str, body: BaseModel | None) -> str:
    """SHA-256 of the path and the validated body (canonical JSON): what a reused key must
    repeat for its first answer to be the right one."""
    return canonical_sha256([path, body.model_dump(mode="json") if body is not None else None])


@dataclass
class Idempotency:
    """The `Idempotency-Key` of one request, if it sent one."""

    session: AsyncSession
    key: str | None
    path: str
    status_code: int  # the operation's success status, unless the route sets another
    owner: str = ""  # the credential that sent the key, known once claimed

    async def replay_or_claim(
        self, principal: Principal, body: BaseModel | None
    ) -> Response | None:
        """The first answer when the key was used before; None to go ahead (the key is now
        this request's, remembered by `remember`). 422 when the key came with another body or
        path, 409 when its first request is still running (only if it never remembered)."""
        if self.key is None:
            return None
        now = utcnow()
        self.owner = owner = f"{principal.kind}:{principal.id}"
        stamp = fingerprint(self.path, body)
        mine = and_(_KEYS.c.owner == owner, _KEYS.c.key == self.key)
        await self.session.execute(
            delete(_KEYS).where(mine, _KEYS.c.created_at < now - KEY_LIFETIME)
        )
        claimed = await self.session.execute(
            _CLAIM[self.session],
            {
                "id": uuid.uuid4(),
                "owner": owner,
                "key": self.key,
                "fingerprint": stamp,
                "created_at": now,
            },
        )
        if claimed.scalar_one_or_none() is not None:
            return None
        first = (await self.session.execute(select(_KEYS).where(mine))).one()
        if first.fingerprint != stamp:
            raise ValidationFailed(
                [
                    field_error(
                        f"header.{KEY_HEADER}",
                        "was used for another request (a different body or path) in the last "
                        "24 hours; use a new key for a new request",
                    )
                ]
            )
        if first.status_code is None:
            raise Conflict("The first request with this Idempotency-Key has not finished.")
        headers = {**(first.headers or {}), REPLAYED_HEADER: "true"}
        return JSONResponse(first.body, status_code=first.status_code, headers=headers)

    async def remember(self, response: Response, body: BaseModel) -> None:
        """Keep this request's answer for the retries of its key (no-op without a key)."""
        if self.key is None:
            return
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        await self.session.execute(
            _KEYS.update()
            .where(_KEYS.c.owner == self.owner, _KEYS.c.key == self.key)
            .values(
                status_code=response.status_code or self.status_code,
                headers=kept,
                body=body.model_dump(mode="json"),
            )
        )

    async def release(self) -> None:
        """Forget this request's claim (no-op without a key): for an answer that must not be
        kept beside the credential that asked (an anonymous comment)."""
        if self.key is None or not self.owner:
            return
        await self.session.execute(
            delete(_KEYS).where(_KEYS.c.owner == self.owner, _KEYS.c.key == self.key)
        )


def _idempotency(request: Request, session: SessionDep, key: KeyHeader = None) -> Idempotency:
    status_code = getattr(request.scope.get("route"), "status_code", None) or 200
    return Idempotency(session, key, request.url.path, status_code)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]


async def purge_expired_keys(session: AsyncSession) -> int:
    """The scheduler's pass: forget keys older than `KEY_LIFETIME`."""
    result = await session.execute(
        delete(_KEYS).where(_KEYS.c.created_at < utcnow() - KEY_LIFETIME)
    )
    return cast(CursorResult[Any], result).rowcount or 0
