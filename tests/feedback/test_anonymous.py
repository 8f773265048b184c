"""Anonymous comments keep no link to their author: not in the API, not in the database."""

import uuid

from sqlalchemy import select, text
from sqlmodel import SQLModel

from app.audit.models import AuditEvent
from app.feedback.models import Comment
from app.webhooks.models import OutboxEvent

REQUEST_ID = "intranet-req-7f3a9c"


async def _every_row(db) -> list[tuple[str, str]]:
    """(table, the row as text) for every row of every table, as stored."""
    out = []
    async with db() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await s.execute(text(f'SELECT * FROM "{table.name}"'))).all():
                out.append((table.name, " | ".join(str(v) for v in row)))
    return out


async def test_anonymous_comment_leaves_no_author_anywhere(
    people, as_employee, published, admin, db
):
    [ana_id] = await people("E-ANA", display_name="Ana Anonymous-Check", email="ana@corp.example")
    await people("E-2")
    message_id = await published(feedback={"anonymous_comments": True})
    ana = as_employee("E-ANA")
    async with db() as s:
        ana_events_before = (
            await s.execute(select(AuditEvent.id).where(AuditEvent.actor == "employee:E-ANA"))
        ).all()

    r = await ana.post(
        f"/v1/me/messages/{message_id}/comments",
        json={"kind": "question", "body": "Is this really voluntary?"},
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert r.status_code == 201, r.text
    comment = r.json()
    assert comment["anonymous"] is True and comment["author"] is None
    comment_id = comment["id"]

    # employees and moderators alike see no author
    r = await as_employee("E-2").get(f"/v1/me/messages/{message_id}/comments")
    assert r.json()["items"][0]["author"] is None
    r = await admin.get(f"/v1/messages/{message_id}/comments")
    assert r.json()["items"][0]["author"] is None and r.json()["items"][0]["anonymous"] is True
    r = await admin.get("/v1/audit-events", params={"entity_id": comment_id})
    assert [e["actor"] for e in r.json()["items"]] == ["employee:anonymous"]

    # the database: the comment row has no author, and no row that mentions the comment
    # (audit event, outbox event, …) names the employee in any form
    async with db() as s:
        stored = (
            await s.execute(select(Comment).where(Comment.id == uuid.UUID(comment_id)))
        ).scalar_one()
        audit = (
            (await s.execute(select(AuditEvent).where(AuditEvent.entity_id == comment_id)))
            .scalars()
            .all()
        )
        events = (
            (
                await s.execute(
                    select(OutboxEvent).where(OutboxEvent.type == "feedback.question_created")
                )
            )
            .scalars()
            .all()
        )
        ana_events_after = (
            await s.execute(select(AuditEvent.id).where(AuditEvent.actor == "employee:E-ANA"))
        ).all()
    assert stored.author_id is None and stored.anonymous is True
    assert [(a.actor, a.actor_name, a.request_id) for a in audit] == [
        ("employee:anonymous", "anonymous", None)
    ]
    assert len(events) == 1 and events[0].data["comment"]["author"] is None
    assert events[0].data["comment"]["anonymous"] is True
    assert ana_events_after == ana_events_before  # the request wrote nothing in her name

    identifying = [str(ana_id), ana_id.hex, "E-ANA", "e-ana", "Ana Anonymous-Check", "ana@corp"]
    rows = await _every_row(db)
    mentioning = [
        (t, row) for t, row in rows if comment_id in row or uuid.UUID(comment_id).hex in row
    ]
    assert {t for t, _ in mentioning} >= {"comments", "audit_events", "events"}
    for table, row in mentioning:
        for needle in identifying:
            assert needle.lower() not in row.lower(), (table, row)
    # the caller's request id is nowhere in the database either
    assert not [row for _, row in rows if REQUEST_ID in row]


async def test_the_database_refuses_an_author_on_an_anonymous_comment(people, published, db):
    [ana] = await people("E-1")
    message_id = uuid.UUID(await published())
    async with db() as s:
        try:
            async with s.begin():
                s.add(
                    Comment(
                        message_id=message_id,
                        author_id=ana,
                        anonymous=True,
                        kind="comment",
                        body="x",
                    )
                )
        except Exception as exc:  # IntegrityError, raised by the check constraint
            assert "anonymous_has_no_author" in str(exc) or "CHECK" in str(exc).upper()
        else:
            raise AssertionError("an anonymous comment with an author was stored")


async def test_named_comments_stay_named_when_anonymity_is_turned_on(
    people, as_employee, published, admin
):
    await people("E-1", display_name="Ana")
    message_id = await published()
    me = as_employee("E-1")
    await me.post(f"/v1/me/messages/{message_id}/comments", json={"body": "Named"})
    r = await admin.patch(
        f"/v1/messages/{message_id}", json={"feedback": {"anonymous_comments": True}}
    )
    assert r.status_code == 200
    await me.post(f"/v1/me/messages/{message_id}/comments", json={"body": "Anonymous"})
    r = await me.get(f"/v1/me/messages/{message_id}/comments")
    assert [(c["body"], c["author"]) for c in r.json()["items"]] == [
        ("Anonymous", None),
        ("Named", {"display_name": "Ana"}),
    ]
