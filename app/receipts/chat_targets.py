"""Chat targets: the team channels messages can be posted to (create, list, read, delete)."""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import NotFound
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.receipts.models import ChatTarget, Delivery
from app.receipts.schemas import ChatTargetCreate, ChatTargetOut
from app.webhooks.service import check_url


def target_out(target: ChatTarget) -> ChatTargetOut:
    return ChatTargetOut.model_validate(target, from_attributes=True)


async def create_chat_target(
    session: AsyncSession, principal: Principal, *, data: ChatTargetCreate, settings: Settings
) -> ChatTargetOut:
    """422 unless the URL passes the webhooks' SSRF guard now (it is checked again per post)."""
    await check_url(data.url, settings)
    target = ChatTarget(
        name=data.name,
        kind=data.kind,
        url=data.url,
        locale=data.locale,
        created_by=principal.actor,
        created_at=utcnow(),
    )
    session.add(target)
    await session.flush()
    await record(
        session,
        principal,
        action="chat_target.created",
        entity_type="chat_target",
        entity_id=target.id,
        details={"name": target.name, "kind": target.kind},
    )
    return target_out(target)


async def _load(session: AsyncSession, target_id: uuid.UUID) -> ChatTarget:
    target = await session.get(ChatTarget, target_id)
    if target is None:
        raise NotFound("No chat target with this id.")
    return target


async def get_chat_target(
    session: AsyncSession, _principal: Principal, *, target_id: uuid.UUID
) -> ChatTargetOut:
    return target_out(await _load(session, target_id))


async def list_chat_targets(
    session: AsyncSession, _principal: Principal, *, page: PageParams
) -> Page[ChatTargetOut]:
    stmt = keyset(select(ChatTarget), page, [ChatTarget.created_at, ChatTarget.id])
    rows = (await session.execute(stmt)).scalars().all()
    return make_page(rows, page, lambda t: (t.created_at, t.id), target_out)


async def delete_chat_target(
    session: AsyncSession, principal: Principal, *, target_id: uuid.UUID
) -> None:
    """Remove a target; its posts not sent yet go with it (messages keep their other channels)."""
    target = await _load(session, target_id)
    # its delivery rows go with it (no foreign key: see migration 0016)
    await session.execute(delete(Delivery).where(Delivery.chat_target_id == target_id))
    await session.delete(target)
    await session.flush()
    await record(
        session,
        principal,
        action="chat_target.deleted",
        entity_type="chat_target",
        entity_id=target_id,
        details={"name": target.name},
    )
