"""The functions other areas call: feed feedback, the localized pulse question, erasure."""

import uuid

from sqlalchemy import select

from app.feedback.counts import reaction_counts, reaction_counts_column
from app.feedback.models import Comment, PulseAnswer, Reaction
from app.feedback.service import (
    forget_author,
    localized_pulse_question,
    my_pulse_column,
    my_reaction_column,
)
from app.messages.models import Message

PULSE = "How confident are you?"


async def test_feed_columns(people, as_employee, published, db):
    ana, bo = await people("E-1", "E-2")
    first = await published(pulse_question=PULSE)
    second = await published()
    silent = await published()
    for who, message_id, kind in (
        ("E-1", first, "love"),
        ("E-2", first, "love"),
        ("E-2", second, "concerned"),
    ):
        r = await as_employee(who).put(
            f"/v1/me/messages/{message_id}/reaction", json={"reaction": kind}
        )
        assert r.status_code == 200
    await as_employee("E-1").put(f"/v1/me/messages/{first}/pulse", json={"score": 4})

    ids = [uuid.UUID(m) for m in (first, second, silent)]
    async with db() as s:
        rows = (
            await s.execute(
                select(
                    Message.id,
                    my_reaction_column(bo),
                    my_pulse_column(ana),
                    reaction_counts_column(),
                ).where(Message.id.in_(ids))
            )
        ).all()
    zero = {"total": 0, "like": 0, "love": 0, "insightful": 0, "celebrate": 0, "concerned": 0}
    assert {r[0]: (r[1], r[2], reaction_counts(r[3])) for r in rows} == {
        ids[0]: ("love", 4, {**zero, "total": 2, "love": 2}),
        ids[1]: ("concerned", None, {**zero, "total": 1, "concerned": 1}),
        ids[2]: (None, None, zero),
    }


def test_localized_pulse_question():
    translations = {"es": {"title": "x", "pulse_question": "¿Confías?"}, "de": {"title": "y"}}
    assert localized_pulse_question(PULSE, translations, "es") == "¿Confías?"
    assert localized_pulse_question(PULSE, translations, "de") == PULSE
    assert localized_pulse_question(PULSE, translations, "en") == PULSE
    # a translated question alone does not make a pulse question
    assert localized_pulse_question(None, translations, "es") is None


async def test_forget_author_keeps_the_figures(people, as_employee, published, admin, db):
    [ana] = await people("E-1", display_name="Ana", department="Sales")
    message_id = await published(pulse_question=PULSE)
    me = as_employee("E-1")
    await me.post(f"/v1/me/messages/{message_id}/comments", json={"body": "Mine"})
    await me.put(f"/v1/me/messages/{message_id}/reaction", json={"reaction": "like"})
    await me.put(f"/v1/me/messages/{message_id}/pulse", json={"score": 5})

    async with db() as s, s.begin():
        await forget_author(s, employee_id=ana)

    async with db() as s:
        comment = (await s.execute(select(Comment))).scalar_one()
        assert comment.author_id is None and comment.body == "Mine"
        assert (await s.execute(select(Reaction.employee_id))).scalar_one() == ana
        assert (await s.execute(select(PulseAnswer.employee_id))).scalar_one() == ana
    r = await admin.get(f"/v1/messages/{message_id}/comments")
    assert r.json()["items"][0]["author"] is None
    r = await admin.get(f"/v1/messages/{message_id}/feedback")
    assert r.json()["reactions"]["like"] == 1
