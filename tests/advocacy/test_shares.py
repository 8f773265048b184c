"""Sharing a message: the employee's words inside the company's guard rails."""

import asyncio
import uuid

from sqlalchemy import select, update

from app.advocacy.models import Share
from app.core.database import utcnow
from app.core.principal import Scope
from app.messages.models import Message
from app.webhooks.models import OutboxEvent
from tests.advocacy.conftest import SIGNATURE, code_of, share
from tests.me.conftest import bearer, hs256


async def test_share_with_own_words_gets_the_signature_and_a_personal_link(
    people, as_employee, published, db, admin
):
    ids = await people("E-1", "E-2")
    message_id = await published()
    r = await as_employee("E-1").post(
        f"/v1/me/messages/{message_id}/shares",
        json={"network": "linkedin", "text": "  I love where I work.  "},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["text"] == f"I love where I work.\n\n{SIGNATURE}"
    assert body["network"] == "linkedin" and body["message_id"] == message_id
    assert body["locale"] is None  # own words: no suggested text used
    code = code_of(body["link"])
    assert len(code) >= 11
    # another share gets another link
    other = await share(as_employee("E-2"), message_id, text="Me too")
    assert code_of(other["link"]) != code
    async with db() as s:
        rows = (await s.execute(select(Share).order_by(Share.created_at))).scalars().all()
        events = (
            (await s.execute(select(OutboxEvent).where(OutboxEvent.type == "message.shared")))
            .scalars()
            .all()
        )
    assert {(r.employee_id, r.code) for r in rows} == {
        (ids[0], code),
        (ids[1], code_of(other["link"])),
    }
    assert len(events) == 2
    data = next(e.data for e in events if e.data["share_id"] == body["id"])
    assert data["message_id"] == message_id and data["network"] == "linkedin"
    assert data["employee_external_id"] == "E-1"
    assert "text" not in data  # a summary and a link, like every message event
    audit = (await admin.get("/v1/audit-events", params={"entity_id": message_id})).json()
    assert "message.shared" in {e["action"] for e in audit["items"]}


async def test_the_suggested_text_in_the_best_locale_and_the_generic_fallback(
    people, as_employee, published
):
    await people("E-1")
    await people("E-ES", locale="es-ES")
    message_id = await published()
    employee = as_employee("E-1")
    assert (await share(employee, message_id))["text"] == f"Proud of our promise.\n\n{SIGNATURE}"
    # no X text in English: the generic one
    mine = await share(employee, message_id, network="x")
    assert (mine["text"], mine["locale"]) == (f"Our promise, kept.\n\n{SIGNATURE}", "en")
    # the employee's own locale, then the header
    spanish = await share(as_employee("E-ES"), message_id, network="xing")
    assert (spanish["text"], spanish["locale"]) == (
        f"Nuestra promesa, cumplida.\n\n{SIGNATURE}",
        "es",
    )
    r = await employee.post(
        f"/v1/me/messages/{message_id}/shares",
        json={"network": "facebook"},
        headers={"Accept-Language": "es-MX,es;q=0.9"},
    )
    assert r.json()["locale"] == "es"


async def test_no_text_and_no_suggestion_is_a_422(people, as_employee, published):
    await people("E-1")
    message_id = await published(share_texts={})
    r = await as_employee("E-1").post(f"/v1/me/messages/{message_id}/shares", json={"network": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.text"


async def test_blocked_words_of_the_setting_and_the_api_are_refused_by_name(
    people, as_employee, published, admin, client_for
):
    await people("E-1")
    message_id = await published()
    employee = as_employee("E-1")
    url = f"/v1/me/messages/{message_id}/shares"
    r = await employee.post(
        url, json={"network": "linkedin", "text": "Better than COMPETITOR  corp!"}
    )
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["loc"] == "body.text" and "'competitor corp'" in error["msg"]
    assert "competitor corp" in r.json()["detail"]
    # whole words only: "darned" holds "darn" but is another word
    assert (
        await employee.post(url, json={"network": "x", "text": "Darned good"})
    ).status_code == 201

    # the admin endpoint adds company words; editors may read them but not set them
    editor = await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)
    assert (
        await editor.put("/v1/advocacy/blocked-words", json={"words": ["x"]})
    ).status_code == 403
    r = await admin.put(
        "/v1/advocacy/blocked-words", json={"words": ["Cheap", "  free   money ", "cheap"]}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "words": ["cheap", "free money"],
        "from_settings": ["competitor corp", "darn"],
    }
    assert (await editor.get("/v1/advocacy/blocked-words")).json()["words"] == [
        "cheap",
        "free money",
    ]
    for text in (
        "So cheap!",
        "FREE money for all",
        "\uff43\uff48\uff45\uff41\uff50",
    ):  # full-width letters too
        r = await employee.post(url, json={"network": "x", "text": text})
        assert r.status_code == 422, text
        assert r.json()["errors"][0]["type"] == "blocked_word"
    # replacing the list removes what is not in it
    await admin.put("/v1/advocacy/blocked-words", json={"words": []})
    assert (await employee.post(url, json={"network": "x", "text": "So cheap!"})).status_code == 201
    r = await admin.put("/v1/advocacy/blocked-words", json={"words": ["a" * 101]})
    assert r.status_code == 422


async def test_length_limits_count_the_signature(people, as_employee, published):
    await people("E-1")
    message_id = await published()
    url = f"/v1/me/messages/{message_id}/shares"
    employee = as_employee("E-1")
    # X: 280 = text + "\n\n" + "#LifeAtBrand" (12) + the link (23 + 1)
    fits = "b" * (280 - 2 - len(SIGNATURE) - 24)
    r = await employee.post(url, json={"network": "x", "text": fits})
    assert r.status_code == 201, r.text
    r = await employee.post(url, json={"network": "x", "text": fits + "b"})
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["loc"] == "body.text" and error["type"] == "too_long"
    assert "281" in error["msg"] and "280" in error["msg"]
    # LinkedIn allows 3,000 with the signature (no link in the text)
    linkedin = "c" * (3000 - 2 - len(SIGNATURE))
    assert (
        await employee.post(url, json={"network": "linkedin", "text": linkedin})
    ).status_code == 201
    r = await employee.post(url, json={"network": "linkedin", "text": linkedin + "c"})
    assert r.status_code == 422
    # a signature already at the end is not added twice
    r = await employee.post(url, json={"network": "x", "text": f"Hello {SIGNATURE}"})
    assert r.json()["text"] == f"Hello {SIGNATURE}"


async def test_who_may_share_what(people, as_employee, published, admin, anon, everyone, db):
    await people("E-1")
    message_id = await published()
    body = {"network": "linkedin", "text": "Hi"}
    url = f"/v1/me/messages/{message_id}/shares"
    assert (await anon.post(url, json=body)).status_code == 401
    assert (await admin.post(url, json=body)).status_code == 403  # an API token is nobody
    employee = as_employee("E-1")
    # no such message: 404
    assert (
        await employee.post(f"/v1/me/messages/{uuid.uuid4()}/shares", json=body)
    ).status_code == 404
    # a message that is not shareable
    plain = await published(shareable=False)
    assert (await employee.post(f"/v1/me/messages/{plain}/shares", json=body)).status_code == 409
    # bad input
    for bad in (
        {"network": "myspace", "text": "Hi"},
        {"network": "x", "text": ""},
        {"network": "x", "text": "Hi", "employee_id": str(uuid.uuid4())},
        {"network": "x", "text": "z" * 70_000},
    ):
        assert (await employee.post(url, json=bad)).status_code == 422, bad
    # closed: archived or expired
    async with db() as s, s.begin():
        await s.execute(
            update(Message).where(Message.id == uuid.UUID(message_id)).values(expires_at=utcnow())
        )
    assert (await employee.post(url, json=body)).status_code == 409
    async with db() as s:
        assert (await s.execute(select(Share))).first() is None


async def test_a_late_hire_who_is_not_a_recipient_gets_404(people, as_employee, published, db):
    message_id = await published()
    await people("E-NEW")  # hired after publication, not resolved as a recipient here
    r = await as_employee("E-NEW").post(
        f"/v1/me/messages/{message_id}/shares", json={"network": "x", "text": "Hi"}
    )
    assert r.status_code == 404


async def test_without_a_public_url_sharing_is_unavailable(people, published, client_with):
    await people("E-1")
    message_id = await published()
    client = await client_with(public_url=None)
    r = await client.post(
        f"/v1/me/messages/{message_id}/shares",
        json={"network": "x", "text": "Hi"},
        headers=bearer(hs256("E-1")),
    )
    assert r.status_code == 503
    assert "BRANDCAST_PUBLIC_URL" in r.json()["detail"]


async def test_concurrent_shares_each_get_their_own_link(people, as_employee, published):
    await people("E-1")
    message_id = await published()
    employee = as_employee("E-1")
    results = await asyncio.gather(
        *(
            employee.post(
                f"/v1/me/messages/{message_id}/shares", json={"network": "x", "text": f"n{i}"}
            )
            for i in range(5)
        )
    )
    assert [r.status_code for r in results] == [201] * 5
    assert len({r.json()["link"] for r in results}) == 5
