"""Moderation and answers: the communications side of comments and questions."""

import uuid

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.principal import Scope
from app.webhooks.models import OutboxEvent
from tests.messages.helpers import assert_problem


async def _arrange(people, as_employee, published):
    await people("E-1", display_name="Ana")
    await people("E-2", display_name="Bo")
    message_id = await published()
    base = f"/v1/me/messages/{message_id}/comments"
    ana, bo = as_employee("E-1"), as_employee("E-2")
    question = (await ana.post(base, json={"kind": "question", "body": "Why?"})).json()
    comment = (await bo.post(base, json={"body": "Nice"})).json()
    return message_id, ana, bo, question, comment


async def test_answer_hide_and_unhide(people, as_employee, published, client_for, db):
    message_id, ana, bo, question, comment = await _arrange(people, as_employee, published)
    editor = await client_for(Scope.MESSAGES_WRITE, Scope.RECEIPTS_READ)
    mod = f"/v1/messages/{message_id}/comments"

    r = await editor.get(mod)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [c["id"] for c in items] == [comment["id"], question["id"]]
    assert items[1]["author"] == {"external_id": "E-1", "display_name": "Ana"}
    assert items[1]["hidden"] is False and items[1]["answer"] is None

    r = await editor.post(f"{mod}/{question['id']}/answer", json={"body": "Because."})
    assert r.status_code == 200, r.text
    assert r.json()["answer"]["body"] == "Because."
    assert r.json()["answer"]["answered_by"].startswith("token:")
    # employees see the answer under the question
    r = await bo.get(f"/v1/me/messages/{message_id}/comments")
    shown = {c["id"]: c for c in r.json()["items"]}
    assert shown[question["id"]]["answer"]["body"] == "Because."
    assert set(shown[question["id"]]["answer"]) == {"body", "answered_at"}
    # a second answer replaces the first
    r = await editor.post(f"{mod}/{question['id']}/answer", json={"body": "Because we care."})
    assert r.json()["answer"]["body"] == "Because we care."

    r = await editor.post(f"{mod}/{comment['id']}/hide")
    assert r.status_code == 200 and r.json()["hidden"] is True
    assert r.json()["hidden_by"].startswith("token:")
    r = await editor.post(f"{mod}/{comment['id']}/hide")  # again: no change
    assert r.status_code == 200
    # hidden comments leave employees' view, the author's included, and stay for moderators
    for client in (ana, bo):
        r = await client.get(f"/v1/me/messages/{message_id}/comments")
        assert [c["id"] for c in r.json()["items"]] == [question["id"]]
        r = await client.get(f"/v1/me/messages/{message_id}/comments/{comment['id']}")
        assert_problem(r, 404)
    r = await editor.get(mod)
    assert len(r.json()["items"]) == 2

    r = await editor.post(f"{mod}/{comment['id']}/unhide")
    assert r.status_code == 200 and r.json()["hidden"] is False and r.json()["hidden_by"] is None
    r = await bo.get(f"/v1/me/messages/{message_id}/comments")
    assert len(r.json()["items"]) == 2

    async with db() as s:
        actions = (
            await s.execute(
                select(AuditEvent.action, AuditEvent.entity_id)
                .where(AuditEvent.entity_type == "comment")
                .order_by(AuditEvent.occurred_at)
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("comment.created", question["id"]),
        ("comment.created", comment["id"]),
        ("comment.answered", question["id"]),
        ("comment.answered", question["id"]),
        ("comment.hidden", comment["id"]),
        ("comment.unhidden", comment["id"]),
    ]


async def test_moderation_filters(people, as_employee, published, admin):
    message_id, _ana, bo, question, comment = await _arrange(people, as_employee, published)
    mod = f"/v1/messages/{message_id}/comments"
    second = (
        await bo.post(
            f"/v1/me/messages/{message_id}/comments", json={"kind": "question", "body": "How?"}
        )
    ).json()
    await admin.post(f"{mod}/{question['id']}/answer", json={"body": "Yes."})
    await admin.post(f"{mod}/{comment['id']}/hide")

    async def ids(**params) -> list[str]:
        r = await admin.get(mod, params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids(kind="question") == [second["id"], question["id"]]
    assert await ids(kind="question", answered="false") == [second["id"]]
    assert await ids(answered="true") == [question["id"]]
    assert await ids(hidden="true") == [comment["id"]]
    assert await ids(hidden="false") == [second["id"], question["id"]]
    assert await ids(limit=1) == [second["id"]]
    assert_problem(await admin.get(mod, params={"kind": "rant"}), 422)
    assert_problem(await admin.get(mod, params={"limit": 201}), 422)

    r = await admin.get(f"/v1/messages/{message_id}/feedback")
    body = r.json()
    assert (body["comments"], body["questions"], body["open_questions"], body["hidden"]) == (
        0,
        2,
        1,
        1,
    )


async def test_moderation_scopes_and_not_found(people, as_employee, published, client_for):
    message_id, ana, _bo, question, _comment = await _arrange(people, as_employee, published)
    mod = f"/v1/messages/{message_id}/comments"
    reader = await client_for(Scope.RECEIPTS_READ)
    writer = await client_for(Scope.MESSAGES_WRITE)
    outsider = await client_for(Scope.MESSAGES_READ)

    assert (await reader.get(mod)).status_code == 200
    assert_problem(await writer.get(mod), 403)
    assert_problem(await outsider.get(mod), 403)
    assert_problem(await outsider.get(f"/v1/messages/{message_id}/feedback"), 403)
    for action, body in (("answer", {"body": "x"}), ("hide", None), ("unhide", None)):
        assert_problem(await reader.post(f"{mod}/{question['id']}/{action}", json=body), 403)
        assert_problem(await ana.post(f"{mod}/{question['id']}/{action}", json=body), 403)
    assert_problem(await writer.post(f"{mod}/{question['id']}/answer", json={"body": ""}), 422)
    assert_problem(
        await writer.post(f"{mod}/{question['id']}/answer", json={"body": "x", "by": "me"}), 422
    )

    unknown = uuid.uuid4()
    assert_problem(await writer.post(f"{mod}/{unknown}/hide"), 404)
    assert_problem(await reader.get(f"/v1/messages/{unknown}/comments"), 404)
    assert_problem(await reader.get(f"/v1/messages/{unknown}/feedback"), 404)
    # a comment under another message's path is not found
    other = await published()
    assert_problem(await writer.post(f"/v1/messages/{other}/comments/{question['id']}/hide"), 404)


async def test_questions_are_announced_to_webhooks(people, as_employee, published, db):
    message_id, _ana, _bo, question, _comment = await _arrange(people, as_employee, published)
    async with db() as s:
        events = (await s.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars().all()
    asked = [e for e in events if e.type == "feedback.question_created"]
    # one event for the question, none for the plain comment
    assert len(asked) == 1
    data = asked[0].data
    assert data["message_id"] == message_id
    assert data["comment"]["id"] == question["id"] and data["comment"]["body"] == "Why?"
    assert data["comment"]["author"] == {"external_id": "E-1", "display_name": "Ana"}
    assert asked[0].ordering_key == f"message:{message_id}"
