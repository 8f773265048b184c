"""A message's sharing settings: read beside the message, written with its create and edit.

The messages area calls these two functions (`sharing_of` when it answers a message,
`save_sharing` when it writes one); the settings live in `message_sharing`, a row per message
that has any.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy import rules
from app.advocacy.models import MessageSharing, Network
from app.advocacy.schemas import SHARING_FIELDS
from app.core.errors import ValidationFailed, field_error

# schema field -> column
_COLUMN = {"shareable": "shareable", "share_url": "share_url", "share_signature": "signature"}
_COLUMN["share_texts"] = "texts"
_DEFAULTS: dict[str, Any] = {"shareable": False, "share_url": None, "signature": None, "texts": {}}


def _out(row: Any | None) -> dict[str, Any]:
    values = _DEFAULTS if row is None else {c: getattr(row, c) for c in _DEFAULTS}
    return {field: values[column] for field, column in _COLUMN.items()}


async def sharing_of(
    session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The sharing fields of each message (defaults for those without settings), one query."""
    found: dict[uuid.UUID, dict[str, Any]] = {m: _out(None) for m in message_ids}
    if message_ids:
        stmt = select(MessageSharing).where(MessageSharing.message_id.in_(list(message_ids)))
        for row in (await session.execute(stmt)).scalars():
            found[row.message_id] = _out(row)
    return found


def _validate(values: dict[str, Any]) -> None:
    errors = []
    if values["shareable"] and not values["share_url"]:
        errors.append(field_error("body.share_url", "a shareable message needs its public URL"))
    for locale, texts in values["texts"].items():
        for network, text in texts.items():
            final = rules.with_signature(text, values["signature"])
            problem = rules.length_problem(Network(network), final)
            if problem:
                errors.append(field_error(f"body.share_texts.{locale}.{network}", problem))
    if errors:
        raise ValidationFailed(errors)


async def save_sharing(
    session: AsyncSession, *, message_id: uuid.UUID, changes: dict[str, Any]
) -> bool:
    """Apply the sharing fields present in `changes` (schema names, e.g. from
    `model_dump(exclude_unset=True)`); 422 when the result breaks a rule. True when they changed."""
    changes = {_COLUMN[k]: v for k, v in changes.items() if k in SHARING_FIELDS}
    if not changes:
        return False
    if "texts" in changes:  # Network keys as plain strings, as the JSON column stores them
        changes["texts"] = {
            locale: {str(n): t for n, t in texts.items()}
            for locale, texts in changes["texts"].items()
        }
    row = await session.get(MessageSharing, message_id, with_for_update=True)
    current = _DEFAULTS if row is None else {c: getattr(row, c) for c in _DEFAULTS}
    wanted = {**current, **changes}
    if wanted == current:
        return False
    _validate(wanted)
    # the caller holds the message's row lock (or just made it): no concurrent writer here
    if row is None:
        session.add(MessageSharing(message_id=message_id, **wanted))
    else:
        for column, value in wanted.items():
            setattr(row, column, value)
    await session.flush()
    return True
