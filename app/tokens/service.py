"""API tokens: minting, verification, revocation."""

import hashlib
import hmac
import secrets
import string
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    field_error,
)
from app.core.pagination import Page, PageParams, fetch_page
from app.core.principal import Principal, Scope
from app.tokens.models import ApiToken
from app.tokens.schemas import TokenCreate, TokenCreated, TokenOut

_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MIN_ID_PREFIX = 4  # shorter starts name a token by accident too easily
_SHOWN_MATCHES = 10
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(raw: str) -> tuple[str, str] | None:
    # bc_<8-char prefix>_<secret>; the secret may itself contain "_"
    if not raw.startswith("bc_") or len(raw) < 3 + 8 + 1 + 16 or raw[11] != "_":
        return None
    return raw[3:11], raw[12:]


async def authenticate_token(session: AsyncSession, raw: str) -> Principal:
    parsed = _parse(raw)
    if parsed is None:
        raise Unauthorized("The API token is malformed.")
    prefix, secret = parsed
    row = (
        await session.execute(
            select(
                ApiToken.id,
                ApiToken.name,
                ApiToken.secret_hash,
                ApiToken.scopes,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
            ).where(ApiToken.prefix == prefix)
        )
    ).one_or_none()
    # compare even when no row matched, so timing does not reveal which prefixes exist
    expected = row.secret_hash if row else hash_secret("")
    if not hmac.compare_digest(expected, hash_secret(secret)) or row is None:
        raise Unauthorized("The API token is not valid.")
    now = utcnow()
    if row.revoked_at is not None:
        raise Unauthorized("The API token has been revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The API token has expired.")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await _touch(session, row.id, now)
    return Principal(
        kind="token",
        id=str(row.id),
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes if s in Scope._value2member_map_),
    )


async def _touch(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    stmt = (
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where(
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - LAST_USED_RESOLUTION,
            )
        )
        .values(last_used_at=now)
    )
    # bookkeeping: on SQLite it may wait for this token's next request (see the helper)
    await sql.write_if_possible(session, stmt)


def _new_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))


def _out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


async def mint(session: AsyncSession, principal: Principal, *, data: TokenCreate) -> TokenCreated:
    """Create a token; nobody can mint scopes beyond their own."""
    requested = frozenset(data.scopes)
    held = principal.effective_scopes()
    wanted = frozenset(Scope) if Scope.ADMIN in requested else requested
    missing = sorted(s.value for s in wanted - held)
    if missing:
        raise Forbidden(f"You cannot grant scopes you do not hold: {', '.join(missing)}.")
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        name=data.name,
        prefix=_new_prefix(),
        secret_hash=hash_secret(secret),
        scopes=sorted(s.value for s in requested),
        created_by=principal.actor,
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(token)
    await session.flush()
    await record(
        session,
        principal,
        action="token.created",
        entity_type="token",
        entity_id=token.id,
        details={"name": token.name, "scopes": token.scopes},
    )
    return TokenCreated(**_out(token).model_dump(), token=f"bc_{token.prefix}_{secret}")


async def list_tokens(
    session: AsyncSession, _principal: Principal, *, page: PageParams
) -> Page[TokenOut]:
    keys = [ApiToken.created_at, ApiToken.id]
    return await fetch_page(session, select(ApiToken), page, keys, _out, entities=True)


async def revoke(session: AsyncSession, principal: Principal, *, token_id: uuid.UUID) -> None:
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No token with this id.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await record(
            session, principal, action="token.revoked", entity_type="token", entity_id=token.id
        )


async def resolve_id(session: AsyncSession, *, id_or_prefix: str) -> uuid.UUID:
    """The token whose id is `id_or_prefix` or starts with it (dashes optional); an unknown or
    ambiguous start is refused, naming the tokens it matches."""
    wanted = id_or_prefix.strip().lower().replace("-", "")
    if len(wanted) < MIN_ID_PREFIX or any(c not in string.hexdigits for c in wanted):
        raise ValidationFailed(
            [field_error("token_id", "expected a token id or its first characters")],
            detail=f"{id_or_prefix!r} is not a token id: give the id from `tokens list`, or at "
            f"least its first {MIN_ID_PREFIX} characters",
        )
    rows = (await session.execute(select(ApiToken.id, ApiToken.name))).all()
    matches = [row for row in rows if row.id.hex.startswith(wanted)]
    if not matches:
        raise NotFound(f"No token id starts with {id_or_prefix!r}.")
    if len(matches) > 1:
        shown = ", ".join(f"{m.id} ({m.name})" for m in matches[:_SHOWN_MATCHES])
        more = f" and {len(matches) - _SHOWN_MATCHES} more" if len(matches) > _SHOWN_MATCHES else ""
        raise Conflict(
            f"{id_or_prefix!r} is the start of {len(matches)} token ids: {shown}{more}; give more "
            "of the id."
        )
    return matches[0].id
