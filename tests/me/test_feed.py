"""The employee feed: what is in it, in which language, filters and pagination."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from app.core.database import utcnow
from app.core.principal import Scope
from app.messages.locales import choose_locale, parse_accept_language, preferences
from app.messages.models import Message
from app.receipts.models import Recipient
from tests.messages.helpers import assert_problem
from tests.receipts.helpers import World, as_employee, person

FEED = "/v1/me/messages"


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- locale negotiation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX, es;q=0.9, en;q=0.5, *;q=0.1", ("es-mx", "es", "en")),
        ("en;q=0.2, fr-CA;q=0.8, de", ("de", "fr-ca", "en")),
        ("en;q=0, fr", ("fr",)),  # q=0 means "not acceptable"
        ("*", ()),
        ("fr;q=abc, de;q=1.5, it;q=0.3", ("it",)),  # malformed q-values are dropped
        ("!!!, en_GB , , es", ("en-gb", "es")),
        ("de, DE, de;q=0.1", ("de",)),
    ],
)
def test_parse_accept_language(header, expected):
    assert parse_accept_language(header) == expected


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        (("es-mx",), "es"),  # regional preference, language-only translation
        (("fr",), "fr-CA"),  # language preference, regional translation
        (("de-at", "es"), "de-DE"),  # the first preference decides, even by language only
        (("pt-br", "es-mx"), "pt-BR"),  # exact, case-insensitive
        (("ja", "zh"), "en"),  # nothing matches: the message's own
        (("en-gb",), "en"),  # the message's own locale matches too
        ((), "en"),
    ],
)
def test_choose_locale(prefs, expected):
    translations = {"es": {}, "fr-CA": {}, "de-DE": {}, "pt-BR": {}}
    assert choose_locale(prefs, "en", translations) == expected


def test_own_locale_wins_between_variants():
    assert choose_locale(("es",), "es-ES", {"es-AR": {}, "es-MX": {}}) == "es-ES"
    assert choose_locale(("es",), "en", {"es-MX": {}, "es-AR": {}}) == "es-AR"


def test_employee_locale_follows_the_header():
    assert preferences("fr, es;q=0.5", "de-DE") == ("fr", "es", "de-de")
    assert preferences(None, "de-DE") == ("de-de",)
    assert preferences("de-DE", "de-DE") == ("de-de",)
    assert preferences(None, None) == ()


TRANSLATED = {
    "title": "Our promise",
    "summary": "Why we exist",
    "body": "We keep our word.",
    "locale": "en",
    "translations": {
        "es": {"title": "Nuestra promesa", "summary": "Por qué existimos", "body": "Cumplimos."},
        "fr-CA": {"title": "Notre promesse", "body": "Parole donnée."},
        "de-DE": {"title": "Unser Versprechen", "summary": None, "body": "Wort gehalten."},
    },
}


@pytest.mark.parametrize(
    ("accept_language", "employee_locale", "locale", "title", "summary"),
    [
        (None, None, "en", "Our promise", "Why we exist"),
        ("es-MX", None, "es", "Nuestra promesa", "Por qué existimos"),
        ("fr;q=0.5, de-DE;q=0.9", None, "de-DE", "Unser Versprechen", None),
        ("fr", None, "fr-CA", "Notre promesse", None),
        ("*, es;q=0", "fr-FR", "fr-CA", "Notre promesse", None),  # then the employee's locale
        ("ja", "es-AR", "es", "Nuestra promesa", "Por qué existimos"),
        ("ja", None, "en", "Our promise", "Why we exist"),  # then the message's own
        (None, "es-ES", "es", "Nuestra promesa", "Por qué existimos"),
        ("en-US, es", "es", "en", "Our promise", "Why we exist"),  # the header comes first
    ],
)
async def test_feed_serves_the_best_locale(
    world, anon, accept_language, employee_locale, locale, title, summary
):
    await world.people(person("E-1", locale=employee_locale))
    message_id = await world.message(["E-1"], category="brand_promise", **TRANSLATED)
    headers = as_employee("E-1")
    if accept_language is not None:
        headers["Accept-Language"] = accept_language

    r = await anon.get(FEED, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["vary"] == "Accept-Language"
    [item] = r.json()["items"]
    assert (item["locale"], item["title"], item["summary"]) == (locale, title, summary)
    assert item["body"] is None  # the list carries bodies only when asked
    [with_body] = (await anon.get(FEED, params={"include": "body"}, headers=headers)).json()[
        "items"
    ]
    served = {**TRANSLATED["translations"], "en": TRANSLATED}[locale]
    assert with_body == {**item, "body": served["body"]}

    one = await anon.get(f"{FEED}/{message_id}", headers=headers)
    assert one.status_code == 200
    assert one.json() == with_body
    assert one.headers["content-language"] == locale


# --- what the feed holds -------------------------------------------------------------------


async def test_feed_holds_live_messages_sent_to_the_caller_newest_first(world, anon, db):
    await world.people("E-1", "E-2")
    first = await world.message(["E-1", "E-2"], title="First")
    second = await world.message(["E-1"], title="Second", tags=["q3", "retail"])
    to_someone_else = await world.message(["E-2"], title="Not yours")
    draft = await world.draft(title="Draft")
    await world.send_to(draft, ["E-1"])
    scheduled = await world.draft(title="Later")
    await world.send_to(scheduled, ["E-1"])
    r = await world.admin.post(
        f"/v1/messages/{scheduled}/publish",
        json={"publish_at": (utcnow() + timedelta(days=1)).isoformat()},
    )
    assert r.json()["status"] == "scheduled"
    archived = await world.message(["E-1"], title="Archived")
    assert (await world.admin.post(f"/v1/messages/{archived}/archive")).status_code == 200
    expired = await world.message(
        ["E-1"], title="Expired", expires_at=(utcnow() + timedelta(hours=1)).isoformat()
    )
    await world.set_message(expired, expires_at=utcnow() - timedelta(seconds=1))
    # a draft row someone targeted directly is still not delivered
    async with db() as s, s.begin():
        await s.execute(
            insert(Recipient).values(
                message_id=uuid.UUID(draft),
                employee_id=world.ids["E-1"],
                targeted_at=utcnow(),
                published_at=utcnow(),
            )
        )

    r = await anon.get(FEED, headers=as_employee("E-1"))
    assert ids(r) == [second, first]
    assert r.json()["next_cursor"] is None
    item = r.json()["items"][0]
    assert item == {
        "id": second,
        "category": "news",
        "priority": "normal",
        "title": "Second",
        "summary": None,
        "body": None,
        "locale": "en",
        "edition": None,
        "local_note": None,
        "tags": ["q3", "retail"],
        "requires_acknowledgement": False,
        "acknowledgement_text": None,
        "version": 1,
        "published_at": item["published_at"],
        "expires_at": None,
        "read_at": None,
        "acknowledged_at": None,
        "acknowledge_by": None,
        "pulse_question": None,
        "feedback": {"reactions": True, "comments": True, "anonymous_comments": False},
        "reactions": {
            "total": 0,
            "like": 0,
            "love": 0,
            "insightful": 0,
            "celebrate": 0,
            "concerned": 0,
        },
        "my_reaction": None,
        "my_pulse": None,
        "quiz": None,
    }
    assert item["published_at"].endswith("Z")

    assert ids(await anon.get(FEED, headers=as_employee("E-2"))) == [to_someone_else, first]

    for hidden in (to_someone_else, draft, scheduled, archived, expired, str(uuid.uuid4())):
        r = await anon.get(f"{FEED}/{hidden}", headers=as_employee("E-1"))
        assert_problem(r, 404)


async def test_acknowledgement_fields(world, anon):
    await world.people("E-1")
    message_id = await world.message(
        ["E-1"],
        priority="critical",
        requires_acknowledgement=True,
        acknowledgement_text="I have read and understood the policy.",
        acknowledge_within_days=7,
    )
    recipient = await world.recipient(message_id, "E-1")
    item = (await anon.get(f"{FEED}/{message_id}", headers=as_employee("E-1"))).json()
    assert item["priority"] == "critical"
    assert item["requires_acknowledgement"] is True
    assert item["acknowledgement_text"] == "I have read and understood the policy."
    assert item["acknowledge_by"] == recipient.due_at.isoformat().replace("+00:00", "Z")
    assert item["acknowledged_at"] is None


async def test_late_joiners_see_messages_in_publication_order(world, anon, db):
    await world.people("E-1", "E-2")
    older = await world.message(["E-2"], title="Older")
    newer = await world.message(["E-1"], title="Newer")
    await world.set_message(older, published_at=utcnow() - timedelta(days=10))
    # E-1 starts matching the older message's audience today
    async with db() as s, s.begin():
        published_at = (
            await s.execute(select(Message.published_at).where(Message.id == uuid.UUID(older)))
        ).scalar_one()
        await s.execute(
            insert(Recipient).values(
                message_id=uuid.UUID(older),
                employee_id=world.ids["E-1"],
                targeted_at=utcnow(),
                published_at=published_at,
            )
        )
    assert ids(await anon.get(FEED, headers=as_employee("E-1"))) == [newer, older]


# --- filters and pagination ----------------------------------------------------------------


async def test_state_and_category_filters(world, anon):
    await world.people("E-1")
    ack = {"requires_acknowledgement": True, "acknowledgement_text": "I agree"}
    news = await world.message(["E-1"], category="news")
    policy = await world.message(["E-1"], category="policy", **ack)
    values = await world.message(["E-1"], category="values", **ack)
    me = as_employee("E-1")

    assert ids(await anon.get(FEED, params={"state": "unread"}, headers=me)) == [
        values,
        policy,
        news,
    ]
    assert ids(await anon.get(FEED, params={"state": "unacknowledged"}, headers=me)) == [
        values,
        policy,
    ]
    assert (await anon.post(f"{FEED}/{news}/read", headers=me)).status_code == 204
    assert (await anon.post(f"{FEED}/{values}/acknowledgement", headers=me)).status_code == 201

    assert ids(await anon.get(FEED, params={"state": "unread"}, headers=me)) == [policy]
    assert ids(await anon.get(FEED, params={"state": "unacknowledged"}, headers=me)) == [policy]
    assert ids(await anon.get(FEED, params={"category": "policy"}, headers=me)) == [policy]
    assert (
        ids(await anon.get(FEED, params={"category": "values", "state": "unread"}, headers=me))
        == []
    )

    for params, loc in (
        ({"state": "read"}, "query.state"),
        ({"category": "gossip"}, "query.category"),
        ({"limit": 201}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
    ):
        body = assert_problem(await anon.get(FEED, params=params, headers=me), 422)
        assert body["errors"][0]["loc"] == loc


async def test_pagination_walks_every_item_once_newest_first(world, anon):
    await world.people("E-1")
    m = [await world.message(["E-1"], title=f"M{i}") for i in range(5)]
    now = utcnow()
    hours = {m[0]: 5, m[1]: 1, m[2]: 1, m[3]: 3, m[4]: 2}  # m1 and m2 at the same instant
    for message_id, h in hours.items():
        await world.set_message(message_id, published_at=now - timedelta(hours=h))
    expected = [*sorted([m[1], m[2]], reverse=True), m[4], m[3], m[0]]  # ties: id descending
    me = as_employee("E-1")
    assert ids(await anon.get(FEED, headers=me)) == expected

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await anon.get(FEED, params=params, headers=me)).json()
        pages += 1
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (expected, 3)


async def test_feed_needs_an_employee(world, anon, client_for):
    for scopes in ((Scope.ADMIN,), (Scope.RECEIPTS_READ,)):
        client = await client_for(*scopes)
        assert_problem(await client.get(FEED), 403)
    assert_problem(await anon.get(FEED), 401)
    await world.people(person("E-9", active=False))
    assert_problem(await anon.get(FEED, headers=as_employee("E-9")), 401)


async def test_an_odd_accept_language_never_fails_the_feed(world, anon):
    await world.people(person("E-1", locale="es-MX"))
    await world.message(["E-1"], **TRANSLATED)
    for header in ("x" * 5000, "en;q=" + "9" * 400, ";;;,,,", "es-" + "a" * 60):
        headers = {**as_employee("E-1"), "Accept-Language": header}
        r = await anon.get(FEED, headers=headers)
        assert r.status_code == 200, header
        assert r.json()["items"][0]["locale"] == "es"  # the employee's own locale
