import uuid

from sqlalchemy import select

from app.messages.models import MessageVersion
from tests.messages.helpers import assert_problem


async def test_put_replace_and_delete_translations(admin, new_message):
    message = await new_message(title="Hello", locale="en")
    url = f"/v1/messages/{message['id']}"

    r = await admin.put(
        f"{url}/translations/es_mx", json={"title": "Hola", "summary": "Resumen", "body": "# Hola"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["translations"] == {
        "es-MX": {"title": "Hola", "summary": "Resumen", "body": "# Hola"}
    }
    assert r.headers["etag"] == r.json()["etag"] != message["etag"]

    r = await admin.put(f"{url}/translations/es-MX", json={"title": "¡Hola!"})
    assert r.json()["translations"] == {"es-MX": {"title": "¡Hola!", "summary": None, "body": ""}}
    r = await admin.put(f"{url}/translations/de", json={"title": "Hallo"})
    assert set(r.json()["translations"]) == {"es-MX", "de"}
    assert r.json()["version"] == 1  # drafts are not versioned

    r = await admin.delete(f"{url}/translations/ES-mx")
    assert r.status_code == 200
    assert set(r.json()["translations"]) == {"de"}
    assert set((await admin.get(url)).json()["translations"]) == {"de"}

    r = await admin.delete(f"{url}/translations/es-MX")
    assert_problem(r, 404, detail_contains="no translation into 'es-MX'")


async def test_translation_locale_is_validated(admin, new_message):
    message = await new_message(locale="en-GB")
    url = f"/v1/messages/{message['id']}"
    for bad in ("xx-!!", "e", "english-language-please-thank-you-very-much"):
        r = await admin.put(f"{url}/translations/{bad}", json={"title": "x"})
        assert assert_problem(r, 422)["errors"][0]["loc"] == "path.locale", bad
        r = await admin.delete(f"{url}/translations/{bad}")
        assert assert_problem(r, 422)["errors"][0]["loc"] == "path.locale", bad
    r = await admin.put(f"{url}/translations/en_gb", json={"title": "x"})
    body = assert_problem(r, 422, detail_contains="own locale")
    assert body["errors"][0]["loc"] == "path.locale"
    r = await admin.put(f"{url}/translations/fr", json={"title": "t" * 201})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.title"
    r = await admin.put(f"{url}/translations/fr", json={"summary": "no title"})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.title"


async def test_published_edits_make_versions(admin, new_message, publish, db):
    message = await new_message(title="v1", body="first", tags=["a"])
    url = f"/v1/messages/{message['id']}"
    assert (await publish(message["id"])).status_code == 200

    # metadata is not content: same version
    r = await admin.patch(url, json={"tags": ["a", "b"], "priority": "critical"})
    assert r.status_code == 200
    assert r.json()["version"] == 1

    r = await admin.patch(url, json={"title": "v2", "body": "second"})
    assert r.json()["version"] == 2
    assert r.json()["acknowledgement_version"] == 1
    assert r.json()["status"] == "published"

    r = await admin.put(f"{url}/translations/es", json={"title": "v3 es"})
    assert r.json()["version"] == 3
    # the same translation again is no change, so no version
    r = await admin.put(f"{url}/translations/es", json={"title": "v3 es"})
    assert r.json()["version"] == 3
    r = await admin.delete(f"{url}/translations/es")
    assert r.json()["version"] == 4

    r = await admin.get(f"{url}/versions")
    assert r.status_code == 200
    versions = r.json()["items"]
    assert [v["version"] for v in versions] == [4, 3, 2, 1]
    assert [v["title"] for v in versions] == ["v2", "v2", "v2", "v1"]
    assert versions[1]["translations"] == {"es": {"title": "v3 es", "summary": None, "body": ""}}
    assert versions[0]["translations"] == {}
    assert versions[3]["body"] == "first"
    assert all(v["published_by"].startswith("token:") for v in versions)
    assert r.json()["next_cursor"] is None

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get(f"{url}/versions", params=params)).json()
        seen += [v["version"] for v in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [4, 3, 2, 1]

    async with db() as s:
        count = (
            (
                await s.execute(
                    select(MessageVersion.version).where(
                        MessageVersion.message_id == uuid.UUID(message["id"])
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(count) == [1, 2, 3, 4]


async def test_drafts_and_scheduled_messages_have_no_versions_yet(admin, new_message, publish):
    message = await new_message()
    assert (await admin.get(f"/v1/messages/{message['id']}/versions")).json() == {
        "items": [],
        "next_cursor": None,
    }
    await publish(message["id"], publish_at="2999-01-01T00:00:00Z")
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"title": "still v1"})
    assert r.json()["version"] == 1
    assert (await admin.get(f"/v1/messages/{message['id']}/versions")).json()["items"] == []


async def test_require_reacknowledgement(admin, new_message, publish):
    message = await new_message(
        requires_acknowledgement=True, acknowledgement_text="I have read the policy."
    )
    url = f"/v1/messages/{message['id']}"

    r = await admin.patch(url, json={"body": "draft edit", "require_reacknowledgement": True})
    assert_problem(r, 409, detail_contains="published message")

    await publish(message["id"])
    r = await admin.patch(url, json={"tags": ["x"], "require_reacknowledgement": True})
    assert_problem(r, 409, detail_contains="content")

    r = await admin.patch(url, json={"body": "new rules", "require_reacknowledgement": True})
    assert r.status_code == 200
    assert r.json()["version"] == 2
    assert r.json()["acknowledgement_version"] == 2

    r = await admin.patch(url, json={"body": "typo fixed"})
    assert r.json()["version"] == 3
    assert r.json()["acknowledgement_version"] == 2

    r = await admin.put(
        f"{url}/translations/fr",
        params={"require_reacknowledgement": "true"},
        json={"title": "Nouvelles règles"},
    )
    assert r.json()["version"] == 4
    assert r.json()["acknowledgement_version"] == 4

    versions = (await admin.get(f"{url}/versions")).json()["items"]
    assert [(v["version"], v["requires_reacknowledgement"]) for v in versions] == [
        (4, True),
        (3, False),
        (2, True),
        (1, False),
    ]

    plain = await new_message()
    await publish(plain["id"])
    r = await admin.patch(
        f"/v1/messages/{plain['id']}", json={"body": "x", "require_reacknowledgement": True}
    )
    assert_problem(r, 409, detail_contains="no acknowledgement")
    # the refused edit left nothing behind
    assert (await admin.get(f"/v1/messages/{plain['id']}")).json()["version"] == 1
