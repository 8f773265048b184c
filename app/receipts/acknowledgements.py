"""Reads and acknowledgements: what an employee does with a message delivered to them.

Both run on every intranet page view, on a `Direct` connection (`app.core.direct`). On
PostgreSQL each is ONE statement, with no transaction around it: data-modifying CTEs check the
delivery, write the receipt, its audit row and (for an acknowledgement) the outbox event and
its webhook deliveries, all or nothing. Concurrent acknowledgements share that statement
(`app.core.batching`): it takes a JSON array of attempts, one row of values each, and answers
a row for each; alone, an attempt is a batch of one. SQLite has no data-modifying CTEs: there
the same writes are statements in the request's transaction.

A read keeps the first read time. An acknowledgement is exactly once per round, also under
concurrency: the unique constraint on (message, employee, round) lets one insert win; a request
that lost reads the winner's row. Its evidence — the statement, the locale and the SHA-256 of
the content served — comes from the message's content as of its current revision
(`app.messages.content`); the one-statement path writes only if the revision it hashed is still
the message's, and otherwise reads the content again and retries.

A message with a comprehension check (issue 21, `app.quizzes`) is acknowledged only after an
attempt of the current round passed (409 before): the passing attempt is looked up first (one
more query, for such messages only), bound into the statement as `quiz_ok` and recorded as the
acknowledgement's `quiz_attempt_id`. The content's revision check covers the quiz too, since it
is part of the content.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    Boolean,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import audit_columns, event_values, record, record_with
from app.core import sql
from app.core.batching import Coalescer
from app.core.database import UTCDateTime, utcnow
from app.core.direct import Direct, Prepared, Row
from app.core.errors import Conflict, NotFound
from app.core.hashing import canonical_sha256
from app.core.ids import new_id
from app.core.principal import Principal
from app.editions.serve import (
    EDITION_COLUMNS,
    EDITION_TEXTS,
    EDITIONS_TABLE,
    EditionText,
    evidence_sha256,
    served_content,
    served_edition_on,
)
from app.messages.content import Content, ContentCache
from app.messages.models import Message
from app.quizzes.service import QUIZ_FIRST, passing_attempt
from app.receipts import rules
from app.receipts.models import Acknowledgement, Channel, Recipient
from app.receipts.schemas import AcknowledgementOut
from app.webhooks.models import EventType
from app.webhooks.outbox import emit, emit_params, emit_with, event_columns

_ACKS = Acknowledgement.__table__.c
_MESSAGES = Message.__table__.c
_RECIPIENTS = Recipient.__table__.c

NOT_SENT = "No message with this id was sent to you."
NOT_ASKED = "This message asks for no acknowledgement."
CLOSED = "This message is closed (archived or expired); it takes no more responses."
# where a read or acknowledgement through this module happens (the tracked e-mail link is the
# other place: `app.receipts.links`)
FEED = Channel.FEED.value
# an acknowledgement retried after the message changed under it; more means it keeps changing
MAX_ATTEMPTS = 3


def content_sha256(*, title: str, body: str, locale: str) -> str:
    """The evidence hash of content shown: SHA-256 of its canonical JSON (sorted keys, no
    whitespace, UTF-8), recomputable by anyone from the text of the version and locale."""
    return canonical_sha256({"body": body, "locale": locale, "title": title})


# (not the column names: an UPDATE or INSERT keeps those for its own values)
def _bound_ids() -> tuple[Any, Any]:
    return bindparam("caller_id", type_=Uuid()), bindparam("delivered_id", type_=Uuid())


def _ids(principal: Principal, message_id: uuid.UUID) -> dict[str, Any]:
    return {"caller_id": principal.employee_id, "delivered_id": message_id}


def _delivery(employee_id: Any = None, message_id: Any = None, *keys: Any) -> Any:
    """The caller's delivery of a published or archived message (one row or none); by
    default of the bound `caller_id` and `delivered_id`, else of the columns given (a
    batch's items, with `keys` of theirs selected too)."""
    if employee_id is None:
        employee_id, message_id = _bound_ids()
    return (
        select(
            *keys,
            _RECIPIENTS.message_id,
            _RECIPIENTS.employee_id,
            _MESSAGES.status,
            _MESSAGES.expires_at,
            _MESSAGES.revision,
            _MESSAGES.requires_acknowledgement,
            _MESSAGES.acknowledgement_version,
            *EDITION_COLUMNS,
        )
        .select_from(Recipient.__table__)
        .join(Message.__table__, _MESSAGES.id == _RECIPIENTS.message_id)
        .outerjoin(EDITIONS_TABLE, served_edition_on(_RECIPIENTS.edition_id))
        .where(
            _RECIPIENTS.employee_id == employee_id,
            _RECIPIENTS.message_id == message_id,
            rules.reachable(),
        )
    )


_RECORD_COLUMNS = (
    _ACKS.id.label("ack_id"),
    _ACKS.version.label("ack_version"),
    _ACKS.statement.label("ack_statement"),
    _ACKS.locale.label("ack_locale"),
    _ACKS.content_sha256.label("ack_sha256"),
    _ACKS.acknowledged_at.label("ack_at"),
    _ACKS.quiz_attempt_id.label("ack_quiz_attempt_id"),
    _ACKS.edition_id.label("ack_edition_id"),
)


def _ack_out(message_id: uuid.UUID, row: Row) -> AcknowledgementOut:
    return AcknowledgementOut.model_construct(
        id=row["ack_id"],
        message_id=message_id,
        version=row["ack_version"],
        statement=row["ack_statement"],
        locale=row["ack_locale"],
        content_sha256=row["ack_sha256"],
        acknowledged_at=row["ack_at"],
        quiz_attempt_id=row["ack_quiz_attempt_id"],
        edition_id=row["ack_edition_id"],
    )


# --- reads --------------------------------------------------------------------------------


def _read_statement(_dialect: str) -> Any:
    """One statement: the delivery, the first read, and its audit row."""
    delivery = _delivery().cte("delivery")
    now = bindparam("now", type_=UTCDateTime())
    marked = (
        update(Recipient.__table__)
        .where(
            _RECIPIENTS.message_id == delivery.c.message_id,
            _RECIPIENTS.employee_id == delivery.c.employee_id,
            _RECIPIENTS.read_at.is_(None),
        )
        .values(read_at=now, read_channel=FEED)
        .returning(_RECIPIENTS.message_id)
        .cte("marked")
    )
    audited = record_with(marked)
    return select(
        delivery.c.message_id,
        select(func.count()).select_from(audited).scalar_subquery().label("recorded"),
    ).select_from(delivery)


_READ = Prepared(_read_statement)
_DELIVERY = Prepared(lambda _: _delivery())
_MARK_READ = Prepared(
    lambda _: (
        update(Recipient.__table__)
        .where(
            _RECIPIENTS.employee_id == bindparam("caller_id", type_=Uuid()),
            _RECIPIENTS.message_id == bindparam("delivered_id", type_=Uuid()),
            _RECIPIENTS.read_at.is_(None),
        )
        .values(read_at=bindparam("now", type_=UTCDateTime()), read_channel=FEED)
        .returning(_RECIPIENTS.message_id)
    )
)


def _read_audit(principal: Principal, message_id: uuid.UUID) -> dict[str, Any]:
    return event_values(
        principal, action="message.read", entity_type="receipt", entity_id=message_id
    )


async def mark_read(conn: Direct, principal: Principal, *, message_id: uuid.UUID) -> None:
    """Record the caller's first read; later reads change nothing. 404 unless sent to them."""
    ids = _ids(principal, message_id) | {"now": utcnow()}
    if conn.session is None:
        audit = {f"audit_{k}": v for k, v in _read_audit(principal, message_id).items()}
        if await conn.fetchrow(_READ, ids | audit) is None:
            raise NotFound(NOT_SENT)
        return
    if await conn.fetchrow(_DELIVERY, ids) is None:
        raise NotFound(NOT_SENT)
    if await conn.fetchrow(_MARK_READ, ids) is not None:
        await record(
            conn.session,
            principal,
            action="message.read",
            entity_type="receipt",
            entity_id=message_id,
        )


# --- acknowledgements ---------------------------------------------------------------------


def _new_acknowledgement(
    principal: Principal,
    message_id: uuid.UUID,
    content: Content,
    prefs: Sequence[str],
    now: datetime,
    quiz_attempt_id: uuid.UUID | None = None,
    edition: EditionText | None = None,
) -> dict[str, Any]:
    """The acknowledgement the caller would give now: of the current round and version, with
    the evidence of the content served (`app.editions.serve`: their edition, if any, in their
    best locale) and of the passed quiz."""
    served = served_content(
        prefs,
        locale=content.locale,
        title=content.title,
        summary=content.summary,
        body=content.body,
        translations=content.translations,
        acknowledgement_text=content.acknowledgement_text,
        locked=content.locked,
        edition=edition,
    )
    return {
        "id": new_id(),
        "message_id": message_id,
        "employee_id": principal.employee_id,
        "acknowledgement_version": content.acknowledgement_version,
        "version": content.version,
        "statement": served.acknowledgement_text or "",
        "locale": served.locale,
        "content_sha256": evidence_sha256(served),
        "acknowledged_at": now,
        "quiz_attempt_id": quiz_attempt_id,
        "edition_id": served.edition_id,
    }


def _audit_of(principal: Principal, new: dict[str, Any]) -> dict[str, Any]:
    return event_values(
        principal,
        action="acknowledgement.created",
        entity_type="acknowledgement",
        entity_id=new["id"],
        details={
            "message_id": str(new["message_id"]),
            "version": new["version"],
            "acknowledgement_version": new["acknowledgement_version"],
            "locale": new["locale"],
        },
    )


def _event_of(principal: Principal, new: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: new[k] for k in AcknowledgementOut.model_fields},
        "employee_external_id": principal.external_id,
    }


_NEW_COLUMNS = (
    "id",
    "message_id",
    "employee_id",
    "acknowledgement_version",
    "version",
    "statement",
    "locale",
    "content_sha256",
    "acknowledged_at",
    "quiz_attempt_id",
    "edition_id",
)


def acknowledgement_attempt(
    principal: Principal,
    message_id: uuid.UUID,
    content: Content,
    prefs: Sequence[str],
    now: datetime,
    *,
    quiz_attempt_id: uuid.UUID | None = None,
    edition: EditionText | None = None,
) -> dict[str, Any]:
    """One attempt's values for `_ACKNOWLEDGE` (`_ITEM_COLUMNS`): the request's ids and
    clock, what its evidence was made from (the content's revision, the passed quiz, the
    edition served), the new row (`new_…`), its audit row (`audit_…`) and its event."""
    new = _new_acknowledgement(
        principal, message_id, content, prefs, now, quiz_attempt_id, edition=edition
    )
    return {
        **_ids(principal, message_id),
        "now": now,
        "revision": content.revision,
        "quiz_ok": content.quiz is None or quiz_attempt_id is not None,
        "edition": edition.id if edition else None,
        "edition_revision": edition.revision if edition else None,
        **{f"new_{k}": v for k, v in new.items()},
        **{f"audit_{k}": v for k, v in _audit_of(principal, new).items()},
        **emit_params(data=_event_of(principal, new), message_id=message_id, now=now),
    }


def created_by(attempt: dict[str, Any]) -> AcknowledgementOut:
    """The acknowledgement an attempt wrote, as the API shows it."""
    return AcknowledgementOut.model_construct(
        **{k: attempt[f"new_{k}"] for k in AcknowledgementOut.model_fields}
    )


# The columns of `acknowledgement_attempt`'s values, as `_ACKNOWLEDGE` reads them from JSON.
_ITEM_COLUMNS = (
    column("caller_id", Uuid()),
    column("delivered_id", Uuid()),
    column("now", UTCDateTime()),
    column("revision", Integer()),
    column("quiz_ok", Boolean()),
    column("edition", Uuid()),
    column("edition_revision", Integer()),
    *(column(f"new_{name}", _ACKS[name].type) for name in _NEW_COLUMNS),
    *audit_columns(),
    *event_columns(),
)


def _acknowledge_statement(dialect: str) -> Any:
    """ONE statement (PostgreSQL) for a batch of acknowledgement attempts, the JSON array
    `items` (`acknowledgement_attempt`'s values), each by its `new_id`: its delivery and current
    acknowledgement if any; and, when the message asks for one, is live, still has the
    revision the evidence was made from and has none yet: the acknowledgement, the
    recipient's receipt, the audit row, the outbox event and its webhook deliveries."""
    items = select(
        func.jsonb_to_recordset(cast(bindparam("items", type_=String()), JSONB))
        .table_valued(*_ITEM_COLUMNS)
        .render_derived(name="item", with_types=True)
    ).cte("item")
    key = items.c.new_id
    delivery = _delivery(items.c.caller_id, items.c.delivered_id, key.label("key")).cte("delivery")
    prior = (
        select(delivery.c.key, *_RECORD_COLUMNS)
        .select_from(Acknowledgement.__table__)
        .join(
            delivery,
            and_(
                _ACKS.message_id == delivery.c.message_id,
                _ACKS.employee_id == delivery.c.employee_id,
                _ACKS.acknowledgement_version == delivery.c.acknowledgement_version,
            ),
        )
        .cte("prior")
    )
    wanted = (
        select(*(items.c[f"new_{name}"] for name in _NEW_COLUMNS))
        .select_from(delivery.join(items, key == delivery.c.key))
        .where(
            delivery.c.requires_acknowledgement.is_(True),
            rules.live(items.c.now, delivery.c),
            delivery.c.revision == items.c.revision,
            items.c.quiz_ok.is_(True),  # issue 21: passed, or no quiz
            # the edition the evidence was made from is still the one served, as it was
            delivery.c.edition_id.is_not_distinct_from(items.c.edition),
            delivery.c.edition_revision.is_not_distinct_from(items.c.edition_revision),
            ~exists().where(prior.c.key == delivery.c.key),
        )
    )
    inserted = (
        sql.insert(dialect, Acknowledgement.__table__)
        .from_select(_NEW_COLUMNS, wanted)
        .on_conflict_do_nothing(
            index_elements=["message_id", "employee_id", "acknowledgement_version"]
        )
        .returning(
            _ACKS.id, _ACKS.message_id, _ACKS.employee_id, _ACKS.version, _ACKS.acknowledged_at
        )
        .cte("inserted")
    )
    receipt = (
        update(Recipient.__table__)
        .where(
            _RECIPIENTS.message_id == inserted.c.message_id,
            _RECIPIENTS.employee_id == inserted.c.employee_id,
        )
        .values(
            acknowledged_at=inserted.c.acknowledged_at,
            acknowledged_version=inserted.c.version,
            read_at=func.coalesce(_RECIPIENTS.read_at, inserted.c.acknowledged_at),
            read_channel=func.coalesce(_RECIPIENTS.read_channel, FEED),
        )
        .returning(_RECIPIENTS.message_id)
        .cte("receipt")
    )
    with_values = inserted.join(items, key == inserted.c.id)
    audited = record_with(with_values, values=items.c)
    event, deliveries = emit_with(
        with_values, dialect=dialect, type=EventType.ACKNOWLEDGEMENT_CREATED, values=items.c
    )

    def count(cte: Any) -> Any:
        return select(func.count()).select_from(cte).scalar_subquery()

    return (
        select(
            key.label("key"),
            delivery.c.key.is_not(None).label("delivered"),
            delivery.c.status,
            delivery.c.expires_at,
            delivery.c.revision,
            delivery.c.requires_acknowledgement,
            delivery.c.edition_id,
            delivery.c.edition_revision,
            *(c for c in prior.c if c.name != "key"),
            inserted.c.id.label("inserted_id"),
            # referenced, so that they are part of the statement
            count(receipt).label("receipts"),
            count(audited).label("audited"),
            count(event).label("events"),
            count(deliveries).label("deliveries"),
        )
        .select_from(items)
        .outerjoin(delivery, delivery.c.key == key)
        .outerjoin(prior, prior.c.key == key)
        .outerjoin(inserted, inserted.c.id == key)
    )


_ACKNOWLEDGE = Prepared(_acknowledge_statement)


async def _acknowledge_batch(conn: Direct, attempts: Sequence[dict[str, Any]]) -> list[Row | None]:
    """Run `_ACKNOWLEDGE` for these attempts: each one's row (None: not delivered to the
    caller), in their order."""
    rows = await conn.fetch(_ACKNOWLEDGE, {"items": to_json(attempts).decode()})
    by_key = {row["key"]: row for row in rows}
    return [
        row if (row := by_key[attempt["new_id"]])["delivered"] else None for attempt in attempts
    ]


Batches = Coalescer[dict[str, Any], Row | None]


def acknowledgement_batches() -> Batches:
    """A process's batching of acknowledgements (`app.core.batching`), for `acknowledge`."""
    return Coalescer("acknowledgement", _acknowledge_batch)


_CURRENT = Prepared(
    lambda _: (
        _delivery()
        .add_columns(*_RECORD_COLUMNS)
        .outerjoin(
            Acknowledgement.__table__,
            and_(
                _ACKS.message_id == _RECIPIENTS.message_id,
                _ACKS.employee_id == _RECIPIENTS.employee_id,
                _ACKS.acknowledgement_version == _MESSAGES.acknowledgement_version,
            ),
        )
    )
)
_INSERT = sql.insert_ignore(
    Acknowledgement.__table__,
    ["message_id", "employee_id", "acknowledgement_version"],
    returning=[_ACKS.id],
)
_RECEIPT = update(Recipient.__table__).where(
    _RECIPIENTS.message_id == bindparam("b_message_id"),
    _RECIPIENTS.employee_id == bindparam("b_employee_id"),
)


async def _passed(
    conn: Direct, principal: Principal, message_id: uuid.UUID, content: Content
) -> uuid.UUID | None:
    """Issue 21: the caller's passing attempt at the quiz of the content's round (one more
    query, only for messages with a quiz)."""
    if content.quiz is None or not content.requires_acknowledgement:
        return None
    assert principal.employee_id is not None
    return await passing_attempt(
        conn,
        employee_id=principal.employee_id,
        message_id=message_id,
        round_=content.acknowledgement_version,
    )


async def _edition_of(conn: Direct, row: Row) -> EditionText | None:
    """The text of the edition a delivery row says is served (None: HQ's)."""
    if row["edition_id"] is None:
        return None
    texts = await EDITION_TEXTS.texts(conn, [(row["edition_id"], row["edition_revision"])])
    return texts.get(row["edition_id"])


def _check(row: Row | None, now: datetime) -> Row:
    """404 without a delivery, 409 when the message asks for no acknowledgement."""
    if row is None:
        raise NotFound(NOT_SENT)
    if not row["requires_acknowledgement"]:
        raise Conflict(NOT_ASKED)
    return row


async def acknowledge(
    conn: Direct,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    cache: ContentCache,
    prefs: Sequence[str] = (),
    batches: Batches | None = None,
) -> tuple[AcknowledgementOut, bool]:
    """Acknowledge the current version; returns the record and whether it was created now.

    404 unless the message was sent to the caller; 409 when it asks for no acknowledgement or
    is closed (archived, expired) and the caller has not acknowledged it yet. On PostgreSQL,
    `batches` (the process's, `acknowledgement_batches`) lets concurrent acknowledgements
    share a statement; without it, each runs alone.
    """
    now = utcnow()
    if conn.session is not None:
        return await _acknowledge_in_transaction(
            conn, principal, message_id=message_id, cache=cache, prefs=prefs, now=now
        )
    ids = _ids(principal, message_id)
    content = cache.latest(message_id)
    # first guess: HQ's text; a recipient served an edition learns it from the first answer
    edition: EditionText | None = None
    for _ in range(MAX_ATTEMPTS + 1):
        if content is None:
            content = await cache.load(conn, message_id)
            if content is None:
                raise NotFound(NOT_SENT)
        passed = await _passed(conn, principal, message_id, content)
        attempt = acknowledgement_attempt(
            principal, message_id, content, prefs, now, quiz_attempt_id=passed, edition=edition
        )
        if batches is None:
            found = (await _acknowledge_batch(conn, [attempt]))[0]
        else:
            found = await batches.submit(conn, attempt)
        row = _check(found, now)
        if row["ack_id"] is not None:
            return _ack_out(message_id, row), False
        if row["inserted_id"] is not None:
            return created_by(attempt), True
        if not rules.is_live(row["status"], row["expires_at"], now):
            raise Conflict(CLOSED)
        if row["revision"] == content.revision and not attempt["quiz_ok"]:
            raise Conflict(QUIZ_FIRST)
        served = (row["edition_id"], row["edition_revision"])
        if served != ((edition.id, edition.revision) if edition else (None, None)):
            edition = await _edition_of(conn, row)  # another edition is served: hash that
            continue
        if row["revision"] == content.revision:
            # a concurrent request of the same caller won: its row is committed by now
            winner = _check(await conn.fetchrow(_CURRENT, ids), now)
            if winner["ack_id"] is not None:
                return _ack_out(message_id, winner), False
        content = None  # the message changed since its content was read: read it again
    raise Conflict("The message kept changing while it was acknowledged; try again.")


async def _acknowledge_in_transaction(
    conn: Direct,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    cache: ContentCache,
    prefs: Sequence[str],
    now: datetime,
) -> tuple[AcknowledgementOut, bool]:
    """`acknowledge` as statements in the request's transaction (SQLite)."""
    session = conn.session
    assert session is not None
    ids = _ids(principal, message_id)
    row = _check(await conn.fetchrow(_CURRENT, ids), now)
    if row["ack_id"] is not None:
        return _ack_out(message_id, row), False
    if not rules.is_live(row["status"], row["expires_at"], now):
        raise Conflict(CLOSED)
    content = (await cache.contents(conn, [(message_id, row["revision"])]))[message_id]
    attempt_id = await _passed(conn, principal, message_id, content)
    if content.quiz is not None and attempt_id is None:
        raise Conflict(QUIZ_FIRST)
    edition = await _edition_of(conn, row)
    new = _new_acknowledgement(
        principal, message_id, content, prefs, now, quiz_attempt_id=attempt_id, edition=edition
    )
    inserted = (await session.execute(_INSERT[session], new)).scalar_one_or_none()
    if inserted is None:  # a concurrent request of the same caller won
        winner = _check(await conn.fetchrow(_CURRENT, ids), now)
        return _ack_out(message_id, winner), False
    await session.execute(
        _RECEIPT.values(
            acknowledged_at=now,
            acknowledged_version=new["version"],
            read_at=func.coalesce(_RECIPIENTS.read_at, now),
            read_channel=func.coalesce(_RECIPIENTS.read_channel, FEED),
        ),
        {"b_message_id": message_id, "b_employee_id": principal.employee_id},
    )
    audit = _audit_of(principal, new)
    await record(
        session,
        principal,
        action=audit["action"],
        entity_type=audit["entity_type"],
        entity_id=new["id"],
        details=audit["details"],
    )
    await emit(
        session,
        type=EventType.ACKNOWLEDGEMENT_CREATED.value,
        message_id=message_id,
        data=_event_of(principal, new),
    )
    return AcknowledgementOut.model_construct(
        **{k: new[k] for k in AcknowledgementOut.model_fields}
    ), True


async def get_acknowledgement(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> AcknowledgementOut:
    """The caller's acknowledgement of the message's current version (404 when none)."""
    row = (
        (
            await session.execute(
                _CURRENT.statement(sql.dialect_of(session)),
                _ids(principal, message_id),
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(NOT_SENT)
    if row["ack_id"] is None:
        raise NotFound("You have not acknowledged the current version of this message.")
    return _ack_out(message_id, row)
