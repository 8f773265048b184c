"""Seed a running Brandcast with a little of everything for the schemathesis run, and write a
schemathesis config whose dictionaries hold the seeded ids, so that generated requests reach
existing resources (not only 404s) about half of the time.

Usage: fuzz_seed.py BASE_URL ADMIN_TOKEN EMPLOYEE_JWT CONFIG_OUT
"""

import json
import sys

import httpx


def _ok(r: httpx.Response) -> dict:
    if r.status_code >= 300:
        sys.exit(f"seeding failed: {r.request.method} {r.request.url} -> {r.status_code} {r.text}")
    return r.json() if r.content else {}


def seed(base: str, admin_token: str, employee_jwt: str) -> dict[str, list[str]]:
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_token}"})
    employee = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {employee_jwt}"})
    people = [
        {
            "external_id": f"E-{i}",
            "email": f"e{i}@example.com",
            "display_name": f"Employee {i}",
            "department": ["Sales", "Support", "R&D"][i % 3],
            "location": ["Madrid", "Lyon"][i % 2],
            "country": ["ES", "FR"][i % 2],
            "customer_facing": i % 2 == 0,
            "locale": ["es-ES", "fr-FR", "en"][i % 3],
            "job_level": i % 5,
            "hire_date": f"20{10 + i % 10}-0{1 + i % 9}-15",
            "manager_external_id": "E-1" if i > 1 else None,
            "attributes": {"shift": "day" if i % 2 else "night", "seniority": i},
        }
        for i in range(1, 31)
    ]
    _ok(admin.post("/v1/employees/bulk", json={"employees": people, "mode": "upsert"}))
    everyone = _ok(admin.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}}))
    front = _ok(
        admin.post(
            "/v1/audiences",
            json={
                "name": "Front line in Spain",
                "key": "front-es",
                "rule": {
                    "all": [
                        {"attribute": "country", "op": "eq", "value": "ES"},
                        {"attribute": "customer_facing", "op": "eq", "value": True},
                    ]
                },
            },
        )
    )
    # a second HQ credential: policies and brand promises need an approver who is not the author
    reviewer_token = _ok(
        admin.post(
            "/v1/tokens",
            json={"name": "reviewer", "scopes": ["messages:read", "messages:write"]},
        )
    )["token"]
    reviewer = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {reviewer_token}"})
    messages, comments = [], []
    for n, category in enumerate(["brand_promise", "values", "policy", "news", "campaign"]):
        ack = n % 2 == 0
        message = _ok(
            admin.post(
                "/v1/messages",
                json={
                    "category": category,
                    "title": f"Message {n}",
                    "summary": "Why it matters",
                    "body": "**Read** this.",
                    "audience_ids": [everyone["id"]],
                    "tags": ["fuzz", category],
                    "requires_acknowledgement": ack,
                    "acknowledgement_text": "I have read and understood." if ack else None,
                    "acknowledge_within_days": 7 if ack else None,
                    "pulse_question": "Does this help?",
                    "translations": {"es": {"title": f"Mensaje {n}", "body": "Léelo."}},
                    **(
                        {
                            "shareable": True,
                            "share_url": "https://www.example.com/promise?lang=en",
                            "share_signature": "#Fuzz",
                            "share_texts": {"en": {"generic": "Our promise."}},
                        }
                        if n < 2
                        else {}
                    ),
                },
            )
        )
        messages.append(message["id"])
        if category in ("brand_promise", "policy"):  # BRANDCAST_REVIEW_REQUIRED's default
            _ok(admin.post(f"/v1/messages/{message['id']}/submit"))
            _ok(reviewer.post(f"/v1/messages/{message['id']}/approve", json={}))
        if n < 4:  # the last one stays a draft
            _ok(admin.post(f"/v1/messages/{message['id']}/publish", json={}))
        if n < 3:
            mid = message["id"]
            _ok(employee.post(f"/v1/me/messages/{mid}/read"))
            if ack:
                _ok(employee.post(f"/v1/me/messages/{mid}/acknowledgement", json={}))
            comment = employee.post(
                f"/v1/me/messages/{mid}/comments", json={"kind": "question", "body": "Why?"}
            )
            if comment.status_code == 201:
                comments.append(comment.json()["id"])
    # employee advocacy: a share of each shareable message, so `/s/{code}` has live codes
    codes = [
        _ok(employee.post(f"/v1/me/messages/{mid}/shares", json={"network": "linkedin"}))[
            "link"
        ].rsplit("/", 1)[1]
        for mid in messages[:2]
    ]
    _ok(admin.put("/v1/advocacy/blocked-words", json={"words": ["forbidden"]}))
    webhook = _ok(
        admin.post(
            "/v1/webhooks",
            json={"url": "https://127.0.0.1:9/hook", "events": ["message.published"]},
        )
    )
    delivery = _ok(admin.post(f"/v1/webhooks/{webhook['id']}/ping"))
    _ok(admin.post("/v1/tokens", json={"name": "reporting", "scopes": ["receipts:read"]}))
    scim_users = _ok(admin.get("/scim/v2/Users", params={"count": 5}))
    return {
        "message_id": messages,
        "audience_id": [everyone["id"], front["id"]],
        "external_id": ["E-3", "E-4", "E-5"],
        "comment_id": comments or [messages[0]],
        "webhook_id": [webhook["id"]],
        "delivery_id": [delivery.get("delivery_id") or delivery.get("id") or webhook["id"]],
        "user_id": [u["id"] for u in scim_users.get("Resources", [])] or ["E-3"],
        "locale": ["es", "fr", "de-CH"],
        "unit": ["country=ES", "country=MX;division=Retail"],
        "code": codes,
    }


def schemathesis_config(ids: dict[str, list[str]]) -> str:
    """TOML: one dictionary per path parameter, used for half of the generated values."""
    lines = []
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    base_url, token, jwt, out = sys.argv[1:5]
    with open(out, "w") as f:
        f.write(schemathesis_config(seed(base_url, token, jwt)))
