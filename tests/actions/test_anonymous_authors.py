"""The author of an anonymous comment learns what was done about it, and no row anywhere ties
them to the comment: only the SHA-256 of a secret their client keeps is stored, with the
comment."""

import hashlib
import secrets

from sqlalchemy import select, text
from sqlmodel import SQLModel

from app.core.idempotency import IdempotencyKey
from app.feedback.models import Comment

REQUEST_ID = "intranet-req-anon-21"


async def _every_row(db) -> list[tuple[str, str]]:
    """(table, the row as text) for every row of every table, as stored."""
    out = []
    async with db() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await s.execute(text(f'SELECT * FROM "{table.name}"'))).all():
                out.append((table.name, " | ".join(str(v) for v in row)))
    return out


async def test_the_anonymous_author_is_told_without_being_identifiable(
    people, as_employee, published, admin, db
):
    [ana_id] = await people(
        "E-ANA", display_name="Ana Anonymous-Action", email="ana.aa@corp.example"
    )
    await people("E-2", "E-3")
    message_id = await published(feedback={"anonymous_comments": True})
    ana = as_employee("E-ANA")
    secret = secrets.token_urlsafe(32)
    posted = {"kind": "question", "body": "Will the bonus change?", "author_secret": secret}
    headers = {"X-Request-ID": REQUEST_ID, "Idempotency-Key": "ana-key-1"}

    r = await ana.post(f"/v1/me/messages/{message_id}/comments", json=posted, headers=headers)
    assert r.status_code == 201, r.text
    comment_id = r.json()["id"]
    assert r.json()["author"] is None and "author_secret" not in r.text
    # a retry (same secret) answers the same comment and makes no second one
    r = await ana.post(f"/v1/me/messages/{message_id}/comments", json=posted, headers=headers)
    assert r.status_code == 201 and r.json()["id"] == comment_id
    # the secret of one comment cannot post on another message
    other = await published(feedback={"anonymous_comments": True})
    r = await ana.post(f"/v1/me/messages/{other}/comments", json=posted)
    assert r.status_code == 409

    r = await admin.post(
        "/v1/actions",
        json={
            "title": "Publish the bonus rules",
            "owner_unit": {"kind": "department", "value": "HR"},
            "links": [{"kind": "comment", "comment_id": comment_id}],
        },
    )
    assert r.status_code == 201, r.text
    action_id = r.json()["id"]
    r = await admin.post(
        f"/v1/actions/{action_id}/updates",
        json={"status": "done", "text": "The rules are on the intranet."},
    )
    assert r.status_code == 200

    # the server cannot tell Ana on its own: the comment has no author
    r = await ana.get("/v1/me/actions")
    assert r.json()["items"] == []
    r = await ana.get(f"/v1/me/messages/{message_id}/actions")
    assert r.json() == []
    # her client, which kept the secret, can
    r = await ana.post(
        "/v1/me/actions/lookup",
        json={"author_secrets": [secret, secrets.token_urlsafe(32)]},
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert r.status_code == 200, r.text
    [told] = r.json()
    assert (told["id"], told["status"]) == (action_id, "done")
    assert told["about"] == [
        {"kind": "comment", "message_id": message_id, "comment_id": comment_id, "unit": None}
    ]
    assert told["updates"][-1]["text"] == "The rules are on the intranet."
    # a wrong secret finds nothing; a short one is refused
    r = await as_employee("E-2").post(
        "/v1/me/actions/lookup", json={"author_secrets": [secrets.token_urlsafe(32)]}
    )
    assert r.status_code == 200 and r.json() == []
    r = await ana.post("/v1/me/actions/lookup", json={"author_secrets": ["short"]})
    assert r.status_code == 422

    # every row of every table: nothing that names Ana mentions the comment, the action or
    # the secret's hash, and the secret itself is stored nowhere
    secret_hash = hashlib.sha256(secret.encode()).hexdigest()
    async with db() as s:
        stored = (
            await s.execute(select(Comment).where(Comment.author_secret_sha256 == secret_hash))
        ).scalar_one()
        keys = (await s.execute(select(IdempotencyKey))).scalars().all()
    assert str(stored.id) == comment_id and stored.author_id is None
    assert keys == []  # an Idempotency-Key row would name her credential beside the answer
    identifying = [str(ana_id), ana_id.hex, "E-ANA", "e-ana", "Ana Anonymous-Action", "ana.aa"]
    rows = await _every_row(db)
    linked = [comment_id, comment_id.replace("-", ""), action_id, action_id.replace("-", "")]
    mentioning = [(t, row) for t, row in rows if any(x in row for x in [*linked, secret_hash])]
    assert {t for t, _ in mentioning} >= {"comments", "action_links", "actions", "audit_events"}
    for table, row in mentioning:
        for needle in identifying:
            assert needle.lower() not in row.lower(), (table, row)
    assert not [row for _, row in rows if secret in row]
    assert [t for t, row in rows if secret_hash in row] == ["comments"]
    assert not [row for _, row in rows if REQUEST_ID in row]


async def test_a_message_turned_anonymous_mid_request_keeps_no_idempotency_row(
    people, as_employee, published, db, monkeypatch
):
    """The router decides about `Idempotency-Key` before the comment is written; when the
    message turned anonymous in between, the key's claim is released, not kept."""
    from app.feedback import service

    await people("E-1")
    message_id = await published(feedback={"anonymous_comments": True})

    async def still_named(*_args, **_kwargs) -> bool:
        return False  # as the router saw it before an editor's change committed

    monkeypatch.setattr(service, "comments_are_anonymous", still_named)
    r = await as_employee("E-1").post(
        f"/v1/me/messages/{message_id}/comments",
        json={"body": "Hm", "author_secret": secrets.token_urlsafe(32)},
        headers={"Idempotency-Key": "k-1"},
    )
    assert r.status_code == 201 and r.json()["anonymous"] is True
    async with db() as s:
        assert (await s.execute(select(IdempotencyKey))).scalars().all() == []
