"""Chat: a message posted to a team channel, as a Teams Adaptive Card (through a Teams
workflow webhook) or a Slack Block Kit message (through an incoming webhook).

Each post carries the title, the summary, and the intranet link, in the target's locale.
Posts go out only after the webhooks' SSRF guard checked the URL again (DNS answers change),
to the address it checked, with no redirects followed.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.config import Settings
from app.receipts.channels.email import label
from app.webhooks import ssrf

KINDS = ("teams", "slack")


def teams_card(*, title: str, summary: str | None, link: str | None, locale: str) -> dict:
    """An Adaptive Card in the envelope Teams workflow webhooks ("Post to a channel when a
    webhook request is received") accept."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Large", "wrap": True}
    ]
    if summary:
        body.append({"type": "TextBlock", "text": summary, "wrap": True})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "lang": locale,
        "body": body,
    }
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": label(locale), "url": link}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped, so an editor's text stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(*, title: str, summary: str | None, link: str | None, locale: str) -> dict:
    """A Block Kit message for a Slack incoming webhook (`text` is the notification's)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": False}}
    ]
    if summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(summary)}})
    if link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label(locale)},
                        "url": link,
                    }
                ],
            }
        )
    return {"text": title, "blocks": blocks}


def payload(kind: str, **content: Any) -> bytes:
    build = teams_card if kind == "teams" else slack_blocks
    return json.dumps(build(**content), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Posted:
    ok: bool
    permanent: bool = False
    error: str | None = None
    duration: float | None = None


async def post(client: httpx.AsyncClient, url: str, body: bytes, settings: Settings) -> Posted:
    """One post; never raises. 2xx: posted. 429, 5xx and network trouble: retry. Any other
    answer, or a URL the guard refuses: failed."""
    try:
        target = await ssrf.resolve(url, ssrf.allowed_hosts(settings.webhook_allowed_hosts))
    except ssrf.UnsafeURL as exc:
        return Posted(ok=False, permanent=True, error=f"refused by the SSRF guard: {exc}"[:1000])
    headers = {"Content-Type": "application/json"}
    extensions: dict[str, Any] = {}
    if target.address is not None:
        headers["Host"] = target.url.netloc.decode("ascii")
        extensions["sni_hostname"] = target.host
    started = time.perf_counter()
    try:
        request = client.build_request(
            "POST", target.pinned_url(), content=body, headers=headers, extensions=extensions
        )
        response = await client.send(request, stream=True)
        if response.status_code >= 400:  # the reason, for the delivery log (a short body)
            await response.aread()
        await response.aclose()
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:1000]
        return Posted(ok=False, error=error, duration=time.perf_counter() - started)
    status = response.status_code
    if 200 <= status < 300:
        return Posted(ok=True, duration=time.perf_counter() - started)
    error = f"HTTP {status}"
    if status >= 400:
        error += f": {response.text[:300]}"
    retry = status == 429 or status >= 500
    return Posted(ok=False, permanent=not retry, error=error[:1000])
