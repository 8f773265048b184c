from datetime import datetime

import httpx


def assert_problem(r: httpx.Response, status: int, *, detail_contains: str = "") -> dict:
    """The response is RFC 9457 problem+json with this status; returns the body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    assert detail_contains.lower() in body["detail"].lower(), body["detail"]
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat()
