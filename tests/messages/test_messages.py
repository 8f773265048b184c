import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.database import utcnow
from app.core.principal import Scope
from app.messages.models import Message, MessageVersion
from tests.messages.helpers import assert_problem, iso


async def test_create_draft_and_read_it(admin, db):
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "brand_promise",
            "title": "  Our promise  ",
            "summary": "What we stand for",
            "body": "# Heading\n\n* one\n* two  \n<b>kept as written</b>\n",
            "locale": "en_gb",
            "priority": "important",
            "tags": ["brand", "2026", "brand"],
            "requires_acknowledgement": True,
            "acknowledgement_text": "I have read and understood our promise.",
            "acknowledge_within_days": 14,
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"/v1/messages/{body['id']}"
    assert r.headers["etag"] == body["etag"]
    assert body["title"] == "Our promise"
    assert body["body"] == "# Heading\n\n* one\n* two  \n<b>kept as written</b>\n"
    assert body["locale"] == "en-GB"
    assert body["tags"] == ["brand", "2026"]
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert body["recipient_count"] == 0
    assert body["published_at"] is None and body["archived_at"] is None
    assert body["translations"] == {}
    assert body["created_by"].startswith("token:")

    got = await admin.get(r.headers["location"])
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["etag"] == r.headers["etag"]

    async with db() as s:
        row = await s.get(Message, uuid.UUID(body["id"]))
        assert row.body == body["body"]
        assert row.revision == 1


async def test_defaults(new_message):
    body = await new_message()
    assert body["locale"] == "en"
    assert body["priority"] == "normal"
    assert body["tags"] == []
    assert body["summary"] is None
    assert body["requires_acknowledgement"] is False


async def test_lifecycle_draft_to_published_to_archived(admin, new_message, publish, db):
    message = await new_message(title="Launch", expires_at=iso(utcnow() + timedelta(days=30)))
    r = await publish(message["id"])
    assert r.status_code == 200, r.text
    published = r.json()
    assert published["status"] == "published"
    assert published["published_at"] is not None
    assert published["version"] == 1
    assert published["recipient_count"] == 0
    assert r.headers["etag"] == published["etag"] != message["etag"]

    r = await admin.post(f"/v1/messages/{message['id']}/archive")
    assert r.status_code == 200
    archived = r.json()
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None
    assert archived["published_at"] == published["published_at"]

    async with db() as s:
        versions = (
            (
                await s.execute(
                    select(MessageVersion).where(
                        MessageVersion.message_id == uuid.UUID(message["id"])
                    )
                )
            )
            .scalars()
            .all()
        )
        assert [(v.version, v.title) for v in versions] == [(1, "Launch")]


async def test_publish_with_past_publish_at_publishes_now(new_message, publish):
    message = await new_message()
    r = await publish(message["id"], publish_at=iso(utcnow() - timedelta(hours=1)))
    assert r.status_code == 200
    assert r.json()["status"] == "published"


async def test_schedule_reschedule_and_publish_now(admin, new_message, publish):
    message = await new_message()
    later = utcnow() + timedelta(days=1)
    r = await publish(message["id"], publish_at=iso(later))
    assert r.status_code == 200
    assert r.json()["status"] == "scheduled"
    assert r.json()["published_at"] is None
    assert r.json()["publish_at"] == later.isoformat().replace("+00:00", "Z")

    even_later = utcnow() + timedelta(days=2)
    r = await publish(message["id"], publish_at=iso(even_later))
    assert r.json()["status"] == "scheduled"

    # editing a scheduled message's time reschedules it
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"publish_at": iso(later)})
    assert r.status_code == 200

    r = await admin.post(f"/v1/messages/{message['id']}/publish")
    assert r.status_code == 200
    assert r.json()["status"] == "published"


async def test_archive_a_scheduled_message(admin, new_message, publish):
    message = await new_message()
    await publish(message["id"], publish_at=iso(utcnow() + timedelta(days=1)))
    r = await admin.post(f"/v1/messages/{message['id']}/archive")
    assert r.json()["status"] == "archived"


async def test_invalid_transitions_are_409_with_a_reason(admin, new_message, publish):
    draft = await new_message()
    r = await admin.post(f"/v1/messages/{draft['id']}/archive")
    assert_problem(r, 409, detail_contains="delete the draft instead")

    expired = await new_message(expires_at=iso(utcnow() - timedelta(minutes=1)))
    assert_problem(await publish(expired["id"]), 409, detail_contains="in the past")

    short = await new_message(expires_at=iso(utcnow() + timedelta(hours=1)))
    r = await publish(short["id"], publish_at=iso(utcnow() + timedelta(hours=2)))
    assert_problem(r, 409, detail_contains="expire")

    no_statement = await new_message(requires_acknowledgement=True)
    assert_problem(await publish(no_statement["id"]), 409, detail_contains="acknowledgement_text")

    published = await new_message()
    assert (await publish(published["id"])).status_code == 200
    assert_problem(await publish(published["id"]), 409, detail_contains="already published")
    r = await admin.delete(f"/v1/messages/{published['id']}")
    assert_problem(r, 409, detail_contains="only drafts can be deleted")
    r = await admin.patch(
        f"/v1/messages/{published['id']}", json={"publish_at": iso(utcnow() + timedelta(days=1))}
    )
    assert_problem(r, 409, detail_contains="publication time cannot change")
    r = await admin.patch(
        f"/v1/messages/{published['id']}", json={"requires_acknowledgement": True}
    )
    assert_problem(r, 409, detail_contains="acknowledgement_text")

    scheduled = await new_message()
    await publish(scheduled["id"], publish_at=iso(utcnow() + timedelta(days=1)))
    r = await admin.patch(f"/v1/messages/{scheduled['id']}", json={"publish_at": None})
    assert_problem(r, 409, detail_contains="scheduled message needs")
    assert_problem(await admin.delete(f"/v1/messages/{scheduled['id']}"), 409)

    assert (await admin.post(f"/v1/messages/{published['id']}/archive")).status_code == 200
    assert_problem(await publish(published["id"]), 409, detail_contains="archived")
    r = await admin.post(f"/v1/messages/{published['id']}/archive")
    assert_problem(r, 409, detail_contains="already archived")
    r = await admin.patch(f"/v1/messages/{published['id']}", json={"title": "New"})
    assert_problem(r, 409, detail_contains="archived")
    r = await admin.put(f"/v1/messages/{published['id']}/translations/es", json={"title": "Hola"})
    assert_problem(r, 409, detail_contains="archived")
    assert_problem(await admin.delete(f"/v1/messages/{published['id']}"), 409)


async def test_delete_a_draft(admin, new_message, db):
    message = await new_message()
    r = await admin.delete(f"/v1/messages/{message['id']}")
    assert r.status_code == 204
    assert_problem(await admin.get(f"/v1/messages/{message['id']}"), 404)
    assert_problem(await admin.delete(f"/v1/messages/{message['id']}"), 404)
    async with db() as s:
        assert await s.get(Message, uuid.UUID(message["id"])) is None


async def test_patch_with_if_match(admin, new_message):
    message = await new_message()
    url = f"/v1/messages/{message['id']}"
    etag = (await admin.get(url)).headers["etag"]

    r = await admin.patch(url, json={"title": "Renamed"}, headers={"If-Match": etag})
    assert r.status_code == 200
    assert r.json()["title"] == "Renamed"
    new_etag = r.headers["etag"]
    assert new_etag != etag

    # the old ETag no longer matches
    r = await admin.patch(url, json={"title": "Lost update"}, headers={"If-Match": etag})
    body = assert_problem(r, 412, detail_contains="ETag")
    assert body["current_etag"] == new_etag
    assert (await admin.get(url)).json()["title"] == "Renamed"

    for i, template in enumerate(("{}", '"nope", {}', "*")):
        header = template.format(new_etag)
        r = await admin.patch(url, json={"summary": f"v{i}"}, headers={"If-Match": header})
        assert r.status_code == 200, header
        new_etag = r.headers["etag"]

    # every write honours If-Match
    for method, path, kwargs in (
        ("put", f"{url}/translations/de", {"json": {"title": "Hallo"}}),
        ("delete", f"{url}/translations/de", {}),
        ("post", f"{url}/publish", {"json": {}}),
        ("post", f"{url}/archive", {}),
        ("delete", url, {}),
    ):
        r = await admin.request(method.upper(), path, headers={"If-Match": etag}, **kwargs)
        assert_problem(r, 412)


async def test_no_op_patch_changes_nothing(admin, new_message, db):
    message = await new_message(title="Same")
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"title": "Same"})
    assert r.status_code == 200
    assert r.headers["etag"] == message["etag"]
    async with db() as s:
        actions = (
            (
                await s.execute(
                    select(AuditEvent.action).where(AuditEvent.entity_id == message["id"])
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["message.created"]


async def test_patch_clears_optional_fields_but_not_required_ones(admin, new_message):
    message = await new_message(summary="Short", acknowledge_within_days=3)
    url = f"/v1/messages/{message['id']}"
    r = await admin.patch(url, json={"summary": None, "acknowledge_within_days": None})
    assert r.status_code == 200
    assert r.json()["summary"] is None
    assert r.json()["acknowledge_within_days"] is None
    for field in ("title", "body", "category", "locale", "tags", "translations", "priority"):
        r = await admin.patch(url, json={field: None})
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == f"body.{field}"


async def test_unknown_fields_are_rejected(admin, new_message):
    for field, value in (("status", "published"), ("version", 7), ("audience", "x")):
        r = await admin.post("/v1/messages", json={"category": "news", "title": "x", field: value})
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == f"body.{field}"
    message = await new_message()
    url = f"/v1/messages/{message['id']}"
    r = await admin.patch(url, json={"recipient_count": 10})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.recipient_count"
    r = await admin.post(f"{url}/publish", json={"now": True})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.now"
    r = await admin.put(f"{url}/translations/es", json={"title": "Hola", "locale": "es"})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.locale"
    r = await admin.post(
        "/v1/messages",
        json={"category": "news", "title": "x", "translations": {"es": {"title": "y", "x": 1}}},
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.translations.es.x"


async def test_length_limits(admin, new_message):
    ok = {"category": "news", "title": "t" * 200, "summary": "s" * 500, "body": "b" * 100_000}
    assert (await admin.post("/v1/messages", json=ok)).status_code == 201
    for field, value, loc in (
        ("title", "t" * 201, "body.title"),
        ("title", "   ", "body.title"),
        ("summary", "s" * 501, "body.summary"),
        ("body", "b" * 100_001, "body.body"),
        ("tags", ["t"] * 21, "body.tags"),
        ("tags", ["t" * 51], "body.tags[0]"),
        ("acknowledgement_text", "a" * 1001, "body.acknowledgement_text"),
        ("acknowledge_within_days", 0, "body.acknowledge_within_days"),
        ("category", "gossip", "body.category"),
        ("priority", "urgent", "body.priority"),
        ("locale", "not a locale", "body.locale"),
        ("publish_at", "2030-01-01T10:00:00", "body.publish_at"),  # no offset: ambiguous
        ("translations", {"es": {"title": "t" * 201}}, "body.translations.es.title"),
        (
            "translations",
            {"es": {"title": "x", "body": "b" * 100_001}},
            "body.translations.es.body",
        ),
        ("translations", {"xx-!!": {"title": "x"}}, "body.translations.xx-!!.[key]"),
    ):
        r = await admin.post("/v1/messages", json={"category": "news", "title": "x", field: value})
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == loc, (field, body["errors"])

    message = await new_message()
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"body": "b" * 100_001})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.body"


async def test_cross_field_rules(admin, new_message):
    start = utcnow() + timedelta(days=1)
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "news",
            "title": "x",
            "publish_at": iso(start),
            "expires_at": iso(start - timedelta(hours=1)),
        },
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.expires_at"
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "news",
            "title": "x",
            "locale": "es",
            "translations": {"es": {"title": "y"}},
        },
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.translations.es"
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "news",
            "title": "x",
            "translations": {"es_mx": {"title": "a"}, "es-MX": {"title": "b"}},
        },
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.translations"
    message = await new_message(translations={"fr": {"title": "Bonjour"}})
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"locale": "fr"})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.translations.fr"


async def test_problem_shapes_for_404_and_422(admin):
    r = await admin.get(f"/v1/messages/{uuid.uuid4()}")
    assert_problem(r, 404, detail_contains="no message")
    for method, suffix in (
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/publish"),
        ("POST", "/archive"),
        ("GET", "/versions"),
        ("DELETE", "/translations/es"),
    ):
        kwargs = {"json": {}} if method == "PATCH" else {}
        r = await admin.request(method, f"/v1/messages/{uuid.uuid4()}{suffix}", **kwargs)
        assert_problem(r, 404)
    r = await admin.get("/v1/messages/not-a-uuid")
    assert assert_problem(r, 422)["errors"][0]["loc"] == "path.message_id"
    r = await admin.post(
        "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(r, 422)


async def test_scopes(client_for, anon, new_message):
    message = await new_message()
    url = f"/v1/messages/{message['id']}"
    writes = (
        ("POST", "/v1/messages", {"json": {"category": "news", "title": "x"}}),
        ("PATCH", url, {"json": {"title": "y"}}),
        ("DELETE", url, {}),
        ("PUT", f"{url}/translations/es", {"json": {"title": "Hola"}}),
        ("DELETE", f"{url}/translations/es", {}),
        ("POST", f"{url}/publish", {"json": {}}),
        ("POST", f"{url}/archive", {}),
    )
    reads = (("GET", "/v1/messages"), ("GET", url), ("GET", f"{url}/versions"))

    reader = await client_for(Scope.MESSAGES_READ)
    for method, path, kwargs in writes:
        r = await reader.request(method, path, **kwargs)
        assert_problem(r, 403, detail_contains="messages:write")
    for method, path in reads:
        assert (await reader.request(method, path)).status_code == 200, path

    unrelated = await client_for(Scope.AUDIENCES_WRITE, Scope.RECEIPTS_READ)
    for method, path, kwargs in writes:
        assert_problem(await unrelated.request(method, path, **kwargs), 403)
    for method, path in reads:
        assert_problem(await unrelated.request(method, path), 403)

    writer = await client_for(Scope.MESSAGES_WRITE)
    r = await writer.patch(url, json={"title": "by writer"})
    assert r.status_code == 200
    assert_problem(await writer.get(url), 403, detail_contains="messages:read")

    for method, path, kwargs in writes:
        assert_problem(await anon.request(method, path, **kwargs), 401)
    for method, path in reads:
        assert_problem(await anon.request(method, path), 401)


async def test_every_write_is_audited(admin, new_message, publish, db):
    message = await new_message(requires_acknowledgement=True, acknowledgement_text="I agree")
    url = f"/v1/messages/{message['id']}"
    await admin.patch(url, json={"title": "Edited draft"})
    await admin.put(f"{url}/translations/es", json={"title": "Hola"})
    await admin.delete(f"{url}/translations/es")
    await publish(message["id"], publish_at=iso(utcnow() + timedelta(days=1)))
    await publish(message["id"])
    await admin.patch(url, json={"body": "v2", "require_reacknowledgement": True})
    await admin.post(f"{url}/archive")
    draft = await new_message()
    await admin.delete(f"/v1/messages/{draft['id']}")

    async with db() as s:
        events = (
            await s.execute(
                select(
                    AuditEvent.action, AuditEvent.entity_id, AuditEvent.actor, AuditEvent.details
                )
                .where(AuditEvent.entity_type == "message")
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            )
        ).all()
    mine = [e for e in events if e.entity_id == message["id"]]
    assert [e.action for e in mine] == [
        "message.created",
        "message.updated",
        "message.translation_saved",
        "message.translation_deleted",
        "message.scheduled",
        "message.published",
        "message.updated",
        "message.archived",
    ]
    assert all(e.actor.startswith("token:") for e in mine)
    assert mine[1].details["fields"] == ["title"]
    assert mine[2].details["locale"] == "es"
    assert mine[6].details == {
        "fields": ["body"],
        "version": 2,
        "new_version": True,
        "require_reacknowledgement": True,
    }
    assert [e.action for e in events if e.entity_id == draft["id"]] == [
        "message.created",
        "message.deleted",
    ]


async def test_concurrent_publishes_publish_once(client_for, new_message, db):
    message = await new_message()
    clients = [await client_for(Scope.MESSAGES_WRITE) for _ in range(4)]
    responses = await asyncio.gather(
        *(c.post(f"/v1/messages/{message['id']}/publish") for c in clients)
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, detail_contains="already published")
    async with db() as s:
        versions = (
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
        published = (
            (
                await s.execute(
                    select(AuditEvent.id).where(
                        AuditEvent.entity_id == message["id"],
                        AuditEvent.action == "message.published",
                    )
                )
            )
            .scalars()
            .all()
        )
    assert versions == [1]
    assert len(published) == 1
