from datetime import timedelta

from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.core.database import utcnow
from app.core.principal import Scope
from app.tokens.models import ApiToken


async def test_mint_use_and_list_token(admin, anon, db):
    r = await admin.post("/v1/tokens", json={"name": "hris", "scopes": ["employees:write"]})
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"/v1/tokens/{body['id']}"
    assert body["token"].startswith(f"bc_{body['prefix']}_")
    assert body["scopes"] == ["employees:write"]

    listed = (await admin.get("/v1/tokens")).json()["items"]
    assert body["id"] in {t["id"] for t in listed}
    assert all("token" not in t and "secret_hash" not in t for t in listed)

    async with db() as s:
        row = (
            await s.execute(select(ApiToken).where(ApiToken.prefix == body["prefix"]))
        ).scalar_one()
        assert body["token"].split("_", 2)[2] not in row.secret_hash  # only the hash is stored
        events = (await s.execute(select(AuditEvent.action))).scalars().all()
        assert "token.created" in events

    r = await anon.get("/v1/tokens", headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"


async def test_cannot_mint_scopes_beyond_own(client_for):
    tokens_only = await client_for(Scope.TOKENS_ADMIN)
    r = await tokens_only.post("/v1/tokens", json={"name": "x", "scopes": ["messages:write"]})
    assert r.status_code == 403
    assert "messages:write" in r.json()["detail"]
    r = await tokens_only.post("/v1/tokens", json={"name": "x", "scopes": ["admin"]})
    assert r.status_code == 403
    r = await tokens_only.post("/v1/tokens", json={"name": "x", "scopes": ["tokens:admin"]})
    assert r.status_code == 201


async def test_revoked_and_expired_tokens_are_rejected(admin, anon, db, mint_token):
    r = await admin.post("/v1/tokens", json={"name": "temp", "scopes": ["audit:read"]})
    token, token_id = r.json()["token"], r.json()["id"]
    auth = {"Authorization": f"Bearer {token}"}
    assert (await anon.get("/v1/audit-events", headers=auth)).status_code == 200

    assert (await admin.delete(f"/v1/tokens/{token_id}")).status_code == 204
    r = await anon.get("/v1/audit-events", headers=auth)
    assert r.status_code == 401
    assert r.json()["detail"] == "The API token has been revoked."
    assert r.headers["www-authenticate"] == "Bearer"

    expiring = await mint_token(Scope.AUDIT_READ, expires_in_days=1)
    async with db() as s, s.begin():
        await s.execute(
            update(ApiToken)
            .where(ApiToken.prefix == expiring[3:11])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await anon.get("/v1/audit-events", headers={"Authorization": f"Bearer {expiring}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "The API token has expired."


async def test_bad_credentials_get_401(anon):
    for header in (
        None,
        "Bearer",
        "Bearer bc_nothing",
        "Bearer bc_abcdefgh_" + "x" * 40,
        "Basic abc",
    ):
        headers = {"Authorization": header} if header else {}
        r = await anon.get("/v1/tokens", headers=headers)
        assert r.status_code == 401, header
        assert r.json()["status"] == 401


async def test_last_used_is_written_at_most_once_a_minute(admin, db):
    for _ in range(3):
        assert (await admin.get("/v1/tokens")).status_code == 200
    async with db() as s:
        used = (
            await s.execute(select(ApiToken.last_used_at).where(ApiToken.name == "test"))
        ).scalar_one()
    assert used is not None
    assert (await admin.get("/v1/tokens")).status_code == 200
    async with db() as s:
        again = (
            await s.execute(select(ApiToken.last_used_at).where(ApiToken.name == "test"))
        ).scalar_one()
    assert again == used


async def test_unknown_token_id_and_unknown_fields(admin):
    r = await admin.delete("/v1/tokens/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    r = await admin.post("/v1/tokens", json={"name": "x", "scopes": ["admin"], "prefix": "mine"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.prefix"
