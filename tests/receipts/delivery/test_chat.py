"""Chat targets: created behind the webhooks' SSRF guard, and posts received by a real
local HTTP receiver as a Teams Adaptive Card and a Slack Block Kit message."""

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.core.database import utcnow
from app.core.principal import Scope
from app.receipts.models import Delivery


async def _targets(admin, url: str) -> tuple[str, str]:
    teams = await admin.post(
        "/v1/chat-targets",
        json={"name": "Retail (Teams)", "kind": "teams", "url": url, "locale": "de"},
    )
    assert teams.status_code == 201, teams.text
    assert teams.headers["location"] == f"/v1/chat-targets/{teams.json()['id']}"
    slack = await admin.post(
        "/v1/chat-targets", json={"name": "Ops (Slack)", "kind": "slack", "url": url}
    )
    assert slack.status_code == 201, slack.text
    return teams.json()["id"], slack.json()["id"]


async def _chat_rows(world, message_id: str) -> list[Delivery]:
    async with world.db() as s:
        rows = await s.execute(
            select(Delivery)
            .where(Delivery.message_id == uuid.UUID(message_id))
            .order_by(Delivery.id)
        )
        return list(rows.scalars().all())


async def test_chat_targets_refuse_unsafe_urls(admin, client_for):
    for url in (
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "http://hooks.slack.com/services/x",  # http only for allow-listed hosts
        "https://user:pw@hooks.slack.com/services/x",
        "ftp://example.com/x",
        "not a url",
    ):
        r = await admin.post("/v1/chat-targets", json={"name": "x", "kind": "slack", "url": url})
        assert r.status_code == 422, url
        assert r.headers["content-type"] == "application/problem+json"
    r = await admin.post(
        "/v1/chat-targets", json={"name": "x", "kind": "discord", "url": "https://a.example"}
    )
    assert r.status_code == 422
    writer = await client_for(Scope.MESSAGES_WRITE)
    r = await writer.post(
        "/v1/chat-targets", json={"name": "x", "kind": "slack", "url": "http://127.0.0.1/x"}
    )
    assert r.status_code == 403
    assert (await admin.get("/v1/chat-targets")).json()["items"] == []
    assert (await admin.get(f"/v1/chat-targets/{uuid.uuid4()}")).status_code == 404


async def test_posts_reach_teams_and_slack_in_the_targets_locale(world, receiver, send):
    teams_id, slack_id = await _targets(world.admin, receiver.url)
    listed = (await world.admin.get("/v1/chat-targets")).json()["items"]
    assert {t["id"] for t in listed} == {teams_id, slack_id}
    await world.people("C-1")
    message_id = await world.message(
        ["C-1"],
        title="New <b>promise</b> & more",
        summary="What changes for *you*",
        channels=["chat"],
        chat_target_ids=[teams_id, slack_id],
        translations={"de": {"title": "Neues Versprechen", "summary": "Was sich ändert"}},
    )
    rows = await _chat_rows(world, message_id)
    assert [(d.channel, d.state, d.employee_id) for d in rows] == [("chat", "planned", None)] * 2
    assert await send() == 2
    bodies = {r.json.get("type", "slack"): r.json for r in receiver.received}
    intranet = f"https://intranet.example.com/news/{message_id}"
    card = bodies["message"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = card["content"]
    assert content["type"] == "AdaptiveCard" and content["lang"] == "de"
    assert content["body"][0]["text"] == "Neues Versprechen"
    assert content["body"][1]["text"] == "Was sich ändert"
    assert content["actions"] == [
        {"type": "Action.OpenUrl", "title": "Im Intranet lesen", "url": intranet}
    ]
    slack = bodies["slack"]
    assert slack["text"] == "New <b>promise</b> & more"
    assert slack["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "New <b>promise</b> & more", "emoji": False},
    }
    assert slack["blocks"][1]["text"] == {"type": "mrkdwn", "text": "What changes for *you*"}
    assert slack["blocks"][2]["elements"][0]["url"] == intranet
    assert {(d.state, d.locale) for d in await _chat_rows(world, message_id)} == {
        ("sent", "de"),
        ("sent", "en"),
    }
    assert await send() == 0  # once


async def test_chat_failures_retry_or_fail(world, receiver, send):
    teams_id, slack_id = await _targets(world.admin, receiver.url)
    await world.people("C-1")
    receiver.respond(503, 404)
    message_id = await world.message(
        ["C-1"], channels=["chat"], chat_target_ids=[teams_id, slack_id]
    )
    await send()
    states = sorted(
        (d.state, (d.last_error or "")[:8]) for d in await _chat_rows(world, message_id)
    )
    assert states == [("failed", "HTTP 404"), ("planned", "HTTP 503")]
    await send(now=utcnow() + timedelta(hours=1))
    assert sorted(d.state for d in await _chat_rows(world, message_id)) == ["failed", "sent"]
    r = await world.admin.get(
        f"/v1/messages/{message_id}/deliveries", params={"channel": "chat", "state": "failed"}
    )
    [failed] = r.json()["items"]
    assert failed["chat_target_id"] in (teams_id, slack_id)
    assert failed["employee_external_id"] is None


async def test_channel_rules(world, receiver):
    teams_id, _ = await _targets(world.admin, receiver.url)
    await world.people("C-1")
    r = await world.admin.post(
        "/v1/messages",
        json={"category": "news", "title": "x", "chat_target_ids": [teams_id]},
    )
    assert r.status_code == 422  # targets need the chat channel
    r = await world.admin.post(
        "/v1/messages",
        json={
            "category": "news",
            "title": "x",
            "channels": ["chat"],
            "chat_target_ids": [str(uuid.uuid4())],
        },
    )
    assert r.status_code == 422  # no such target
    r = await world.admin.post(
        "/v1/messages", json={"category": "news", "title": "x", "channels": ["sms"]}
    )
    assert r.status_code == 422
    draft = await world.draft(channels=["chat"])
    await world.send_to(draft, ["C-1"])
    r = await world.admin.post(f"/v1/messages/{draft}/publish", json={})
    assert r.status_code == 409 and "chat target" in r.json()["detail"]
    r = await world.admin.patch(f"/v1/messages/{draft}", json={"chat_target_ids": [teams_id]})
    assert r.status_code == 200 and r.json()["chat_target_ids"] == [teams_id]
    await world.publish(draft)
    r = await world.admin.patch(f"/v1/messages/{draft}", json={"channels": ["feed", "email"]})
    assert r.status_code == 409 and "channels" in r.json()["detail"]
    # deleting a target takes its unsent posts with it
    assert (await world.admin.delete(f"/v1/chat-targets/{teams_id}")).status_code == 204
    assert await _chat_rows(world, draft) == []
    assert (await world.admin.delete(f"/v1/chat-targets/{teams_id}")).status_code == 404
