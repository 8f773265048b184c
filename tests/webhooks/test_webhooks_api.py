"""Subscriptions through HTTP: CRUD, validation, SSRF refusals, ETags, scopes, audit."""

import base64
import uuid

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.principal import Scope
from app.webhooks import ssrf
from app.webhooks.models import SUBSCRIBABLE_EVENTS, Webhook, WebhookDelivery


def assert_problem(r, status: int, *, loc: str | None = None, contains: str = "") -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if loc is not None:
        assert loc in [e["loc"] for e in body["errors"]], body
    assert contains.lower() in r.text.lower(), body
    return body


@pytest.fixture
def public_dns(monkeypatch):
    """`hooks.example.com` resolves to a public address; nothing is ever sent to it here."""
    table = {"hooks.example.com": ["93.184.216.34"], "localhost": ["127.0.0.1", "::1"]}

    async def _lookup(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    monkeypatch.setattr(ssrf, "_getaddrinfo", _lookup)
    return table


async def test_create_shows_the_secret_once_and_reads_never(admin, db, public_dns):
    r = await admin.post(
        "/v1/webhooks",
        json={
            "url": "https://hooks.example.com/brandcast",
            "events": ["message.published", "acknowledgement.overdue", "message.published"],
            "description": "intranet",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert r.headers["etag"] == f'"{body["id"]}-1"'
    # Standard Webhooks: whsec_ + base64 of 32 random bytes
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"][6:], validate=True)) == 32
    assert body["legacy_signatures"] is False
    assert body["events"] == ["acknowledgement.overdue", "message.published"]
    assert body["active"] is True and body["disabled_reason"] is None

    got = await admin.get(f"/v1/webhooks/{body['id']}")
    assert got.status_code == 200 and "secret" not in got.json()
    assert got.headers["etag"] == r.headers["etag"]
    listed = (await admin.get("/v1/webhooks")).json()
    assert [w["id"] for w in listed["items"]] == [body["id"]]
    assert "secret" not in listed["items"][0] and listed["next_cursor"] is None

    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
        details = (
            await s.execute(
                select(AuditEvent.details).where(AuditEvent.action == "webhook.created")
            )
        ).scalar_one()
    assert "webhook.created" in actions
    assert body["secret"] not in str(details)


async def test_all_events_is_a_star_alone(admin, public_dns):
    r = await admin.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
    )
    assert r.status_code == 201 and r.json()["events"] == ["*"]
    r = await admin.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*", "ping"]}
    )
    assert_problem(r, 422, loc="body.events[1]")
    r = await admin.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/", "events": ["*", "message.published"]},
    )
    assert_problem(r, 422, loc="body.events", contains="alone")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "https://hooks.example.com/", "events": ["message.deleted"]}, "body.events[0]"),
        ({"url": "https://hooks.example.com/", "events": []}, "body.events"),
        ({"url": "https://hooks.example.com/"}, "body.events"),
        ({"url": "https://hooks.example.com/", "events": ["*"], "secret": "x"}, "body.secret"),
        ({"url": "", "events": ["*"]}, "body.url"),
        ({"url": "https://hooks.example.com/" + "a" * 2000, "events": ["*"]}, "body.url"),
    ],
)
async def test_invalid_bodies_get_422_naming_the_field(admin, public_dns, body, loc):
    assert_problem(await admin.post("/v1/webhooks", json=body), 422, loc=loc)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.2/hook", "not a public address"),
        ("https://10.0.0.1/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://[fd00:ec2::254]/", "not a public address"),
        ("https://localhost/hook", "resolves to 127.0.0.1"),
        ("http://hooks.example.com/hook", "https://"),
        ("https://nowhere.invalid/hook", "does not resolve"),
    ],
)
async def test_ssrf_guard_refuses_subscriptions(admin, db, public_dns, url, reason):
    r = await admin.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert_problem(r, 422, loc="body.url", contains=reason)
    async with db() as s:
        assert (await s.execute(select(Webhook.id))).first() is None


async def test_allow_listed_host_may_use_http(admin, receiver):
    # the test settings allow 127.0.0.1 (BRANDCAST_WEBHOOK_ALLOWED_HOSTS)
    r = await admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
    assert r.status_code == 201, r.text


async def test_patch_honours_if_match_and_rechecks_the_url(admin, db, public_dns):
    created = (
        await admin.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
        )
    ).json()
    path = f"/v1/webhooks/{created['id']}"

    r = await admin.patch(path, json={"active": False}, headers={"If-Match": '"stale-1"'})
    assert_problem(r, 412)
    r = await admin.patch(path, json={"url": "https://10.0.0.1/"})
    assert_problem(r, 422, loc="body.url")
    r = await admin.patch(path, json={"events": None})
    assert_problem(r, 422, loc="body.events")
    r = await admin.patch(path, json={"bogus": 1})
    assert_problem(r, 422, loc="body.bogus")

    r = await admin.patch(
        path,
        json={"active": False, "events": ["message.archived"], "description": None},
        headers={"If-Match": f'"{created["id"]}-1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{created["id"]}-2"'
    assert r.json()["active"] is False and r.json()["events"] == ["message.archived"]

    # nothing changed: no new revision, no audit row
    r = await admin.patch(path, json={"active": False})
    assert r.headers["etag"] == f'"{created["id"]}-2"'
    async with db() as s:
        updates = (
            await s.execute(select(AuditEvent.id).where(AuditEvent.action == "webhook.updated"))
        ).all()
    assert len(updates) == 1


async def test_reactivation_clears_the_dispatchers_verdict(admin, db, public_dns):
    created = (
        await admin.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
        )
    ).json()
    async with db() as s, s.begin():
        webhook = await s.get(Webhook, uuid.UUID(created["id"]))
        webhook.active = False
        webhook.disabled_reason = "failing"
        webhook.disabled_at = webhook.failing_since = webhook.created_at
    r = await admin.patch(f"/v1/webhooks/{created['id']}", json={"active": True})
    body = r.json()
    assert body["active"] is True
    assert body["disabled_reason"] is body["disabled_at"] is body["failing_since"] is None


async def test_delete_removes_the_subscription(admin, db, public_dns):
    created = (
        await admin.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
        )
    ).json()
    path = f"/v1/webhooks/{created['id']}"
    assert (await admin.post(f"{path}/ping")).status_code == 202
    assert_problem(await admin.delete(path, headers={"If-Match": '"x-9"'}), 412)
    assert (await admin.delete(path)).status_code == 204
    async with db() as s:  # its delivery log went with it
        assert (await s.execute(select(WebhookDelivery.id))).first() is None
    assert_problem(await admin.get(path), 404)
    assert_problem(await admin.delete(path), 404)
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert "webhook.deleted" in actions


async def test_rotate_secret_returns_the_new_one_once(admin, public_dns):
    created = (
        await admin.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
        )
    ).json()
    r = await admin.post(f"/v1/webhooks/{created['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"] != created["secret"] and rotated["secret"].startswith("whsec_")
    assert len(base64.b64decode(rotated["secret"][6:], validate=True)) == 32
    assert rotated["previous_secret_expires_at"] is not None
    assert r.headers["etag"] == f'"{created["id"]}-2"'
    r = await admin.post(
        f"/v1/webhooks/{created['id']}/rotate-secret", headers={"If-Match": '"nope"'}
    )
    assert_problem(r, 412)


async def test_unknown_ids_get_404(admin):
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"/v1/webhooks/{missing}"),
        ("PATCH", f"/v1/webhooks/{missing}"),
        ("POST", f"/v1/webhooks/{missing}/rotate-secret"),
        ("POST", f"/v1/webhooks/{missing}/ping"),
        ("GET", f"/v1/webhooks/{missing}/deliveries"),
        ("POST", f"/v1/webhooks/{missing}/deliveries/{uuid.uuid4()}/redeliver"),
    ]:
        r = await admin.request(method, path, json={} if method == "PATCH" else None)
        assert_problem(r, 404)
    assert_problem(await admin.get("/v1/webhooks/not-a-uuid"), 422)


async def test_scopes(anon, client_for, public_dns):
    body = {"url": "https://hooks.example.com/", "events": ["*"]}
    assert_problem(await anon.get("/v1/webhooks"), 401)
    assert_problem(await anon.post("/v1/webhooks", json=body), 401)
    messages_writer = await client_for(Scope.MESSAGES_WRITE, Scope.TOKENS_ADMIN)
    assert_problem(await messages_writer.get("/v1/webhooks"), 403, contains="webhooks:admin")
    assert_problem(await messages_writer.post("/v1/webhooks", json=body), 403)
    hooks_admin = await client_for(Scope.WEBHOOKS_ADMIN)
    created = await hooks_admin.post("/v1/webhooks", json=body)
    assert created.status_code == 201
    webhook_id = created.json()["id"]
    assert_problem(await messages_writer.post(f"/v1/webhooks/{webhook_id}/ping"), 403)
    assert_problem(await messages_writer.get(f"/v1/webhooks/{webhook_id}/deliveries"), 403)
    assert_problem(await messages_writer.delete(f"/v1/webhooks/{webhook_id}"), 403)
    assert (await hooks_admin.get(f"/v1/webhooks/{webhook_id}/deliveries")).status_code == 200
    # the reminders route wants messages:write
    assert_problem(await hooks_admin.post(f"/v1/messages/{uuid.uuid4()}/reminders"), 403)


async def test_list_is_paginated(admin, public_dns):
    ids = []
    for i in range(5):
        r = await admin.post(
            "/v1/webhooks",
            json={"url": f"https://hooks.example.com/{i}", "events": list(SUBSCRIBABLE_EVENTS)},
        )
        ids.append(r.json()["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get("/v1/webhooks", params=params)).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert_problem(await admin.get("/v1/webhooks", params={"limit": 201}), 422, loc="query.limit")
