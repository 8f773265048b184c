"""Reactions, pulse answers and comments from the employee's side."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from app.audit.models import AuditEvent
from app.core.database import utcnow
from app.feedback.models import Comment, PulseAnswer, Reaction
from app.messages.models import Message
from tests.messages.helpers import assert_problem

PULSE = "How confident are you explaining our brand promise to a customer?"


async def _rows(db, model, message_id: str) -> list:
    async with db() as s:
        stmt = select(model).where(model.message_id == uuid.UUID(message_id))
        return list((await s.execute(stmt)).scalars())


async def test_reaction_is_set_replaced_and_removed(people, as_employee, published, db):
    [ana] = await people("E-1")
    message_id = await published()
    me = as_employee("E-1")

    r = await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "like"})
    assert r.status_code == 200, r.text
    assert r.json()["reaction"] == "like" and r.json()["message_id"] == message_id
    first_at = r.json()["reacted_at"]

    # the same reaction again changes nothing
    r = await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "like"})
    assert r.status_code == 200 and r.json()["reacted_at"] == first_at

    r = await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "insightful"})
    assert r.status_code == 200 and r.json()["reaction"] == "insightful"
    rows = await _rows(db, Reaction, message_id)
    assert [(x.employee_id, x.reaction) for x in rows] == [(ana, "insightful")]

    r = await me.delete(f"/v1/me/messages/{message_id}/reaction")
    assert r.status_code == 204 and r.content == b""
    r = await me.delete(f"/v1/me/messages/{message_id}/reaction")
    assert r.status_code == 204
    assert await _rows(db, Reaction, message_id) == []

    async with db() as s:
        actions = (
            await s.execute(
                select(AuditEvent.action, AuditEvent.actor)
                .where(AuditEvent.entity_id == message_id, AuditEvent.action.like("reaction.%"))
                .order_by(AuditEvent.occurred_at)
            )
        ).all()
    # one event per change, none for the repeated PUT or the second DELETE
    assert [tuple(a) for a in actions] == [
        ("reaction.set", "employee:E-1"),
        ("reaction.set", "employee:E-1"),
        ("reaction.removed", "employee:E-1"),
    ]


async def test_reaction_input_is_validated(people, as_employee, published):
    await people("E-1")
    message_id = await published()
    me = as_employee("E-1")
    r = await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "angry"})
    assert_problem(r, 422)
    assert r.json()["errors"][0]["loc"] == "body.reaction"
    r = await me.put(
        f"/v1/me/messages/{message_id}/reaction", json={"reaction": "like", "employee_id": "x"}
    )
    assert_problem(r, 422)
    r = await me.put("/v1/me/messages/not-a-uuid/reaction", json={"reaction": "like"})
    assert_problem(r, 422)


async def test_pulse_answer_can_change_while_open(people, as_employee, published, db):
    [ana] = await people("E-1")
    message_id = await published(pulse_question=PULSE)
    me = as_employee("E-1")

    r = await me.put(f"/v1/me/messages/{message_id}/pulse", json={"score": 3})
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 3
    r = await me.put(f"/v1/me/messages/{message_id}/pulse", json={"score": 5})
    assert r.status_code == 200 and r.json()["score"] == 5
    rows = await _rows(db, PulseAnswer, message_id)
    assert [(x.employee_id, x.score) for x in rows] == [(ana, 5)]

    for bad in (0, 6, "high", None):
        r = await me.put(f"/v1/me/messages/{message_id}/pulse", json={"score": bad})
        assert_problem(r, 422)

    async with db() as s:
        details = (
            await s.execute(select(AuditEvent.details).where(AuditEvent.action == "pulse.answered"))
        ).scalars()
        # the score itself never enters the audit trail
        assert list(details) == [None, None]


async def test_pulse_needs_a_pulse_question(people, as_employee, published):
    await people("E-1")
    message_id = await published()
    r = await as_employee("E-1").put(f"/v1/me/messages/{message_id}/pulse", json={"score": 4})
    assert_problem(r, 409, detail_contains="no pulse question")


async def test_only_recipients_may_give_feedback(people, as_employee, published, admin, db):
    await people("E-1")
    message_id = await published(pulse_question=PULSE)
    await people("LATE")  # joined after publication: not a recipient
    stranger = as_employee("LATE")
    base = f"/v1/me/messages/{message_id}"
    calls = [
        ("PUT", "/reaction", {"reaction": "like"}),
        ("DELETE", "/reaction", None),
        ("PUT", "/pulse", {"score": 2}),
        ("POST", "/comments", {"body": "Hi"}),
        ("GET", "/comments", None),
    ]
    for method, path, body in calls:
        r = await stranger.request(method, base + path, json=body)
        assert_problem(r, 404, detail_contains="sent to you")

    # a draft is not delivered to anyone either
    r = await admin.post("/v1/messages", json={"category": "news", "title": "Draft"})
    r = await as_employee("E-1").put(
        f"/v1/me/messages/{r.json()['id']}/reaction", json={"reaction": "like"}
    )
    assert_problem(r, 404)

    # API tokens are not employees; no credential is 401
    r = await admin.put(base + "/reaction", json={"reaction": "like"})
    assert_problem(r, 403)
    r = await stranger.put(
        base + "/reaction", json={"reaction": "like"}, headers={"Authorization": ""}
    )
    assert_problem(r, 401)
    async with db() as s:
        assert (await s.execute(select(func.count()).select_from(Reaction))).scalar_one() == 0


async def test_closed_messages_take_no_more_feedback(people, as_employee, published, admin, db):
    await people("E-1")
    me = as_employee("E-1")
    archived = await published(pulse_question=PULSE)
    expired = await published(pulse_question=PULSE)
    r = await me.post(f"/v1/me/messages/{archived}/comments", json={"body": "Before"})
    assert r.status_code == 201
    r = await admin.post(f"/v1/messages/{archived}/archive")
    assert r.status_code == 200, r.text
    async with db() as s, s.begin():
        await s.execute(
            update(Message)
            .where(Message.id == uuid.UUID(expired))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )

    for message_id in (archived, expired):
        base = f"/v1/me/messages/{message_id}"
        for method, path, body in [
            ("PUT", "/reaction", {"reaction": "like"}),
            ("DELETE", "/reaction", None),
            ("PUT", "/pulse", {"score": 2}),
            ("POST", "/comments", {"body": "Hi"}),
        ]:
            r = await me.request(method, base + path, json=body)
            assert_problem(r, 409, detail_contains="closed")
    # what was said stays readable
    r = await me.get(f"/v1/me/messages/{archived}/comments")
    assert r.status_code == 200 and [c["body"] for c in r.json()["items"]] == ["Before"]


async def test_feedback_settings_turn_features_off(people, as_employee, published, admin):
    await people("E-1")
    message_id = await published()
    r = await admin.patch(f"/v1/messages/{message_id}", json={"feedback": {"reactions": False}})
    assert r.status_code == 200, r.text
    # a partial object: the other settings keep their values
    assert r.json()["feedback"] == {
        "reactions": False,
        "comments": True,
        "anonymous_comments": False,
    }
    me = as_employee("E-1")
    r = await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "like"})
    assert_problem(r, 409, detail_contains="reactions are turned off")
    assert (await me.delete(f"/v1/me/messages/{message_id}/reaction")).status_code == 204

    r = await admin.patch(f"/v1/messages/{message_id}", json={"feedback": {"comments": False}})
    assert r.json()["feedback"]["reactions"] is False
    r = await me.post(f"/v1/me/messages/{message_id}/comments", json={"body": "Hello?"})
    assert_problem(r, 409, detail_contains="comments and questions are turned off")

    r = await admin.patch(f"/v1/messages/{message_id}", json={"feedback": {"comments": None}})
    assert_problem(r, 422)
    r = await admin.patch(f"/v1/messages/{message_id}", json={"feedback": {"votes": True}})
    assert_problem(r, 422)


async def test_message_defaults_and_translated_pulse_question(admin):
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "values",
            "title": "Values",
            "pulse_question": PULSE,
            "translations": {
                "es": {"title": "Valores", "pulse_question": "¿Cuánta confianza tienes?"},
                "de": {"title": "Werte"},
            },
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["pulse_question"] == PULSE
    assert body["feedback"] == {"reactions": True, "comments": True, "anonymous_comments": False}
    assert body["translations"] == {
        "es": {
            "title": "Valores",
            "summary": None,
            "body": "",
            "pulse_question": "¿Cuánta confianza tienes?",
        },
        "de": {"title": "Werte", "summary": None, "body": ""},
    }
    r = await admin.post(
        "/v1/messages", json={"category": "values", "title": "x", "pulse_question": "x" * 301}
    )
    assert_problem(r, 422)
    assert r.json()["errors"][0]["loc"] == "body.pulse_question"


async def test_changing_the_pulse_question_makes_a_new_version(people, published, admin):
    await people("E-1")
    message_id = await published(pulse_question=PULSE)
    r = await admin.patch(f"/v1/messages/{message_id}", json={"pulse_question": "Better?"})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await admin.get(f"/v1/messages/{message_id}/versions")
    assert [v["pulse_question"] for v in r.json()["items"]] == ["Better?", PULSE]
    r = await admin.patch(
        f"/v1/messages/{message_id}", json={"feedback": {"anonymous_comments": True}}
    )
    assert r.status_code == 200 and r.json()["version"] == 2  # settings are not content


async def test_comments_and_questions(people, as_employee, published, db):
    await people("E-1", display_name="Ana García")
    await people("E-2", display_name="Bo")
    message_id = await published()
    ana, bo = as_employee("E-1"), as_employee("E-2")
    base = f"/v1/me/messages/{message_id}/comments"

    r = await ana.post(base, json={"body": "  Love it  "})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["kind"] == "comment" and first["body"] == "Love it"
    assert first["author"] == {"display_name": "Ana García"}
    assert first["anonymous"] is False and first["answer"] is None
    assert r.headers["location"] == f"{base}/{first['id']}"
    r = await bo.get(r.headers["location"])
    assert r.status_code == 200 and r.json() == first

    r = await bo.post(base, json={"kind": "question", "body": "When does it start?"})
    assert r.status_code == 201
    second = r.json()
    await ana.post(base, json={"body": "Third"})

    r = await bo.get(base, params={"limit": 2})
    page = r.json()
    assert [c["body"] for c in page["items"]] == ["Third", "When does it start?"]
    assert page["items"][1]["author"] == {"display_name": "Bo"}
    r = await bo.get(base, params={"limit": 2, "cursor": page["next_cursor"]})
    assert [c["id"] for c in r.json()["items"]] == [first["id"]]
    assert r.json()["next_cursor"] is None

    for bad in ({"body": ""}, {"body": "   "}, {"body": "x" * 2001}, {"kind": "rant", "body": "x"}):
        assert_problem(await ana.post(base, json=bad), 422)
    r = await ana.post(base, json={"body": "x" * 2000})
    assert r.status_code == 201
    async with db() as s:
        stored = (
            await s.execute(select(Comment).where(Comment.id == uuid.UUID(second["id"])))
        ).scalar_one()
    assert stored.kind == "question" and stored.author_id is not None


async def test_concurrent_reactions_leave_one_row(people, as_employee, published, db):
    [ana] = await people("E-1")
    message_id = await published(pulse_question=PULSE)
    me = as_employee("E-1")
    kinds = ["like", "love", "insightful", "celebrate", "concerned"] * 2
    responses = await asyncio.gather(
        *(me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": k}) for k in kinds),
        *(me.put(f"/v1/me/messages/{message_id}/pulse", json={"score": n}) for n in range(1, 6)),
    )
    assert [r.status_code for r in responses] == [200] * 15
    reactions = await _rows(db, Reaction, message_id)
    pulses = await _rows(db, PulseAnswer, message_id)
    assert len(reactions) == 1 and reactions[0].employee_id == ana
    assert reactions[0].reaction in kinds
    assert len(pulses) == 1 and 1 <= pulses[0].score <= 5
