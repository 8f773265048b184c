"""A message's sharing settings: written with the message, validated, read back."""

import pytest

from tests.advocacy.conftest import SHARE_URL, SIGNATURE, shareable

DRAFT = {"category": "campaign", "title": "Spring campaign"}


def _locs(r) -> list[str]:
    return [e["loc"] for e in r.json()["errors"]]


async def test_sharing_fields_are_stored_and_read_back(admin):
    r = await admin.post("/v1/messages", json={**DRAFT, **shareable()})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["shareable"] is True
    assert created["share_url"] == SHARE_URL
    assert created["share_signature"] == SIGNATURE
    assert created["share_texts"]["en"]["linkedin"] == "Proud of our promise."
    again = (await admin.get(f"/v1/messages/{created['id']}")).json()
    assert {k: again[k] for k in ("shareable", "share_url", "share_texts")} == {
        k: created[k] for k in ("shareable", "share_url", "share_texts")
    }
    listed = (await admin.get("/v1/messages")).json()["items"]
    assert listed[0]["shareable"] is True and listed[0]["share_url"] == SHARE_URL


async def test_messages_are_not_shareable_by_default(admin):
    r = await admin.post("/v1/messages", json=DRAFT)
    body = r.json()
    assert (body["shareable"], body["share_url"], body["share_texts"]) == (False, None, {})


async def test_a_shareable_message_needs_its_url(admin):
    r = await admin.post("/v1/messages", json={**DRAFT, "shareable": True})
    assert r.status_code == 422
    assert _locs(r) == ["body.share_url"]


@pytest.mark.parametrize(
    "url",
    [
        "http://www.brand.example/page",
        "javascript:alert(1)",
        "//evil.example/page",
        "https://user:pw@www.brand.example/",
        "https://www.brand.example/a\r\nLocation: https://evil.example",
        "https://www.brand.example/a b",
        "https:///no-host",
        "ftp://www.brand.example/",
        "https://" + "a" * 2000 + ".example",
    ],
)
async def test_share_url_is_https_to_a_host_only(admin, url):
    r = await admin.post("/v1/messages", json={**DRAFT, **shareable(share_url=url)})
    assert r.status_code == 422, url
    assert _locs(r)[0].startswith("body.share_url")


async def test_suggested_texts_fit_their_network_with_the_signature(admin):
    # 280 for X, the t.co link (23) and a space included: 230 + 2 + 12 (signature) + 24 = 268
    fits = "a" * 230
    r = await admin.post(
        "/v1/messages", json={**DRAFT, **shareable(share_texts={"en": {"x": fits}})}
    )
    assert r.status_code == 201, r.text
    too_long = "a" * 243  # 243 + 2 + 12 + 24 = 281
    r = await admin.post(
        "/v1/messages", json={**DRAFT, **shareable(share_texts={"en": {"x": too_long}})}
    )
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["loc"] == "body.share_texts.en.x"
    assert "281" in error["msg"] and "280" in error["msg"]


async def test_unknown_networks_and_bad_locales_are_refused(admin):
    for texts in ({"en": {"myspace": "hi"}}, {"not a locale!": {"x": "hi"}}, {"en": {"x": ""}}):
        r = await admin.post("/v1/messages", json={**DRAFT, **shareable(share_texts=texts)})
        assert r.status_code == 422, texts


async def test_editing_sharing_changes_the_etag_and_is_audited(admin):
    message = (await admin.post("/v1/messages", json=DRAFT)).json()
    r = await admin.patch(
        f"/v1/messages/{message['id']}",
        json={"shareable": True, "share_url": SHARE_URL},
        headers={"If-Match": message["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["shareable"] is True and r.json()["etag"] != message["etag"]
    # the old ETag is stale now
    r = await admin.patch(
        f"/v1/messages/{message['id']}",
        json={"share_signature": "#Us"},
        headers={"If-Match": message["etag"]},
    )
    assert r.status_code == 412
    events = (await admin.get("/v1/audit-events", params={"entity_id": message["id"]})).json()
    updated = [e for e in events["items"] if e["action"] == "message.updated"]
    assert updated and "sharing" in updated[0]["details"]["fields"]
    # turning sharing off keeps the URL; clearing the URL of a shareable message is refused
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"share_url": None})
    assert r.status_code == 422 and _locs(r) == ["body.share_url"]
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"shareable": False})
    assert r.status_code == 200 and r.json()["share_url"] == SHARE_URL
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"shareable": None})
    assert r.status_code == 422


async def test_sharing_of_an_archived_message_cannot_change(admin, everyone):
    message = (
        await admin.post("/v1/messages", json={**DRAFT, **shareable(), "audience_ids": [everyone]})
    ).json()
    assert (await admin.post(f"/v1/messages/{message['id']}/publish", json={})).status_code == 200
    assert (await admin.post(f"/v1/messages/{message['id']}/archive")).status_code == 200
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"share_signature": "#New"})
    assert r.status_code == 409
    assert (await admin.get(f"/v1/messages/{message['id']}")).json()["share_signature"] == SIGNATURE
