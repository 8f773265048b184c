"""Feed items carry the caller's feedback: their reaction and pulse answer, the reaction counts,
the pulse question in the served locale and the message's feedback settings, from one statement."""

import pytest

from tests.receipts.helpers import World, as_employee, person

FEED = "/v1/me/messages"
PULSE = "How confident are you explaining our promise?"
TRANSLATED = {
    "category": "brand_promise",
    "title": "Our promise",
    "body": "We keep our word.",
    "locale": "en",
    "pulse_question": PULSE,
    "translations": {
        "es": {
            "title": "Nuestra promesa",
            "body": "Cumplimos.",
            "pulse_question": "¿Con qué seguridad explicas nuestra promesa?",
        },
        "de-DE": {"title": "Unser Versprechen", "body": "Wort gehalten."},
    },
}
NONE = {"like": 0, "love": 0, "insightful": 0, "celebrate": 0, "concerned": 0}


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


async def _react(anon, message_id: str, who: str, reaction: str) -> None:
    r = await anon.put(
        f"{FEED}/{message_id}/reaction", json={"reaction": reaction}, headers=as_employee(who)
    )
    assert r.status_code == 200, r.text


async def _feed(anon, who: str, **headers: str) -> dict[str, dict]:
    r = await anon.get(FEED, headers={**as_employee(who), **headers})
    assert r.status_code == 200, r.text
    return {item["id"]: item for item in r.json()["items"]}


FEEDBACK_FIELDS = ("pulse_question", "feedback", "reactions", "my_reaction", "my_pulse")


def _feedback(item: dict) -> dict:
    return {k: item[k] for k in FEEDBACK_FIELDS}


async def test_feed_items_carry_my_reaction_pulse_and_the_counts(world, anon):
    await world.people("E-1", "E-2", "E-3", "E-4")
    everyone = ["E-1", "E-2", "E-3", "E-4"]
    asked = await world.message(everyone, **TRANSLATED)
    quiet = await world.message(
        everyone,
        title="No feedback",
        feedback={"reactions": False, "comments": False, "anonymous_comments": False},
    )
    for who, reaction in (("E-1", "love"), ("E-2", "love"), ("E-3", "like")):
        await _react(anon, asked, who, reaction)
    r = await anon.put(f"{FEED}/{asked}/pulse", json={"score": 4}, headers=as_employee("E-1"))
    assert r.status_code == 200, r.text

    mine = await _feed(anon, "E-1")
    assert _feedback(mine[asked]) == {
        "pulse_question": PULSE,
        "feedback": {"reactions": True, "comments": True, "anonymous_comments": False},
        "reactions": {**NONE, "total": 3, "love": 2, "like": 1},
        "my_reaction": "love",
        "my_pulse": 4,
    }
    assert _feedback(mine[quiet]) == {
        "pulse_question": None,
        "feedback": {"reactions": False, "comments": False, "anonymous_comments": False},
        "reactions": {**NONE, "total": 0},
        "my_reaction": None,
        "my_pulse": None,
    }
    # the same counts for everyone; "my_" fields are each caller's own
    theirs = await _feed(anon, "E-3")
    assert theirs[asked]["reactions"] == mine[asked]["reactions"]
    assert (theirs[asked]["my_reaction"], theirs[asked]["my_pulse"]) == ("like", None)
    nobody = await _feed(anon, "E-4")
    assert (nobody[asked]["my_reaction"], nobody[asked]["my_pulse"]) == (None, None)

    # one message answers the same as the feed
    one = await anon.get(f"{FEED}/{asked}", headers=as_employee("E-1"))
    assert one.status_code == 200
    assert one.json() == {**mine[asked], "body": one.json()["body"]}
    assert one.json()["body"] is not None and mine[asked]["body"] is None

    # replacing and removing show at once, in the counts and in "my_reaction"
    await _react(anon, asked, "E-1", "insightful")
    r = await anon.delete(f"{FEED}/{asked}/reaction", headers=as_employee("E-2"))
    assert r.status_code == 204
    item = (await anon.get(f"{FEED}/{asked}", headers=as_employee("E-1"))).json()
    assert item["reactions"] == {**NONE, "total": 2, "insightful": 1, "like": 1}
    assert item["my_reaction"] == "insightful"


@pytest.mark.parametrize(
    ("accept_language", "employee_locale", "locale", "question"),
    [
        (None, None, "en", PULSE),
        ("es-MX, en;q=0.5", None, "es", "¿Con qué seguridad explicas nuestra promesa?"),
        (None, "es-AR", "es", "¿Con qué seguridad explicas nuestra promesa?"),
        # served in German, whose translation has no pulse question: the original one
        ("de", None, "de-DE", PULSE),
    ],
)
async def test_pulse_question_in_the_served_locale(
    world, anon, accept_language, employee_locale, locale, question
):
    await world.people(person("E-1", locale=employee_locale))
    message_id = await world.message(["E-1"], **TRANSLATED)
    headers = {"Accept-Language": accept_language} if accept_language else {}

    item = (await _feed(anon, "E-1", **headers))[message_id]
    assert (item["locale"], item["pulse_question"]) == (locale, question)
    one = await anon.get(f"{FEED}/{message_id}", headers={**as_employee("E-1"), **headers})
    assert one.headers["content-language"] == locale
    assert one.json()["pulse_question"] == question


async def test_feed_with_feedback_is_one_statement(world, anon, sql_statements):
    await world.people("E-1", "E-2")
    messages = [await world.message(["E-1", "E-2"], **TRANSLATED) for _ in range(3)]
    for message_id in messages:
        await _react(anon, message_id, "E-2", "celebrate")
        await _react(anon, message_id, "E-1", "like")
    headers = as_employee("E-1")
    await anon.get(FEED, headers=headers)  # warm the sign-in path's caches

    with sql_statements() as seen:
        r = await anon.get(FEED, headers=headers)
    statements = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert r.status_code == 200
    assert [i["reactions"]["total"] for i in r.json()["items"]] == [2, 2, 2]
    # sign-in (the employee row) and the feed: no query per item, none for the feedback
    feed = [s for s in statements if "FROM recipients" in s]
    assert len(feed) == 1, statements
    assert "message_reaction_counts" in feed[0] and "pulse_answers" in feed[0]
    assert "FROM reactions" in feed[0]
    assert len(statements) <= 2, statements
