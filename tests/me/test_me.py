from sqlalchemy import select
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.cli import cli
from app.core.config import get_settings
from tests.conftest import TEST_JWT_SECRET
from tests.me.conftest import FULL_PROFILE, bearer, hs256

ME_FIELDS = {
    "external_id",
    "email",
    "display_name",
    "given_name",
    "family_name",
    "department",
    "division",
    "location",
    "country",
    "job_title",
    "job_level",
    "manager_external_id",
    "employment_type",
    "customer_facing",
    "hire_date",
    "locale",
    "active",
    "attributes",
}


async def test_me_returns_the_callers_own_record(anon, employee):
    await employee("E-1", **FULL_PROFILE)
    await employee("E-2")  # someone else, never shown

    r = await anon.get("/v1/me", headers=bearer(hs256("E-1")))

    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == ME_FIELDS
    assert body == {
        **FULL_PROFILE,
        "external_id": "E-1",
        "hire_date": "2021-03-15",
        "active": True,
    }


async def test_me_with_sparse_record(anon, employee):
    await employee("E-9", email=None, display_name=None)
    r = await anon.get("/v1/me", headers=bearer(hs256("E-9")))
    assert r.status_code == 200
    body = r.json()
    assert body["external_id"] == "E-9"
    assert body["email"] is None and body["employment_type"] is None
    assert body["customer_facing"] is False and body["attributes"] == {}


async def test_me_needs_an_employee_credential(admin, anon):
    r = await admin.get("/v1/me")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == (
        "Only an employee signed in with an SSO token can use this operation."
    )

    r = await anon.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_editor_role_grants_content_scopes_only(anon, employee):
    await employee("E-1")
    editor = bearer(hs256("E-1", roles=["comms_editor"]))
    for path in ("/v1/tokens", "/v1/audit-events"):
        r = await anon.get(path, headers=editor)
        assert r.status_code == 403, path
        assert "lacks the" in r.json()["detail"]
    # the role does not change who the caller is
    assert (await anon.get("/v1/me", headers=editor)).json()["external_id"] == "E-1"


async def test_admin_role_grants_everything_and_is_audited_as_the_employee(anon, employee, db):
    await employee("E-1", display_name="Ana")
    admin_jwt = bearer(hs256("E-1", roles="comms_admin"))
    assert (await anon.get("/v1/audit-events", headers=admin_jwt)).status_code == 200
    r = await anon.post(
        "/v1/tokens", json={"name": "from-sso", "scopes": ["audit:read"]}, headers=admin_jwt
    )
    assert r.status_code == 201

    async with db() as s:
        event = (
            await s.execute(select(AuditEvent).where(AuditEvent.action == "token.created"))
        ).scalar_one()
    assert (event.actor, event.actor_name) == ("employee:E-1", "Ana")


async def test_no_roles_means_no_scopes(anon, employee):
    await employee("E-1")
    for roles in (None, [], "", "viewer", {"comms_admin": True}, ["COMMS_ADMIN"]):
        extra = {} if roles is None else {"roles": roles}
        r = await anon.get("/v1/audit-events", headers=bearer(hs256("E-1", **extra)))
        assert r.status_code == 403, roles


async def test_roles_claim_is_configurable_and_accepts_separated_strings(client_with, employee):
    await employee("E-1")
    client = await client_with(jwt_roles_claim="groups")
    for groups in ("staff comms_admin", "staff,comms_admin", ["staff", "comms_admin"]):
        r = await client.get("/v1/audit-events", headers=bearer(hs256("E-1", groups=groups)))
        assert r.status_code == 200, (groups, r.text)
    # the default claim name no longer counts
    r = await client.get("/v1/audit-events", headers=bearer(hs256("E-1", roles=["comms_admin"])))
    assert r.status_code == 403


def _run_cli(args: list[str], env: dict[str, str]):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, args, env=env)
    finally:
        get_settings.cache_clear()


async def test_dev_token_signs_a_token_the_service_accepts(client_with, employee):
    await employee("E-7", display_name="Dev")
    env = {
        "BRANDCAST_JWT_ALGORITHMS": "HS256",
        "BRANDCAST_JWT_SECRET": TEST_JWT_SECRET,
        "BRANDCAST_JWT_ISSUER": "https://sso.example.com",
        "BRANDCAST_JWT_AUDIENCE": "brandcast",
    }
    result = _run_cli(
        ["dev-token", "--employee", "E-7", "--role", "comms_admin", "--ttl-minutes", "5"], env
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]

    client = await client_with(jwt_issuer="https://sso.example.com", jwt_audience="brandcast")
    r = await client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["display_name"] == "Dev"
    assert (await client.get("/v1/audit-events", headers=bearer(token))).status_code == 200
    # and it carries the configured issuer: a deployment expecting another one refuses it
    other = await client_with(jwt_issuer="https://other.example.com", jwt_audience="brandcast")
    assert (await other.get("/v1/me", headers=bearer(token))).status_code == 401


def test_dev_token_needs_a_secret():
    result = _run_cli(
        ["dev-token", "--employee", "E-7"],
        {"BRANDCAST_JWT_ALGORITHMS": "RS256", "BRANDCAST_JWT_SECRET": None},
    )
    assert result.exit_code == 1
    assert "no HS256 secret is configured" in result.stderr
    assert result.stdout == ""


def test_dev_token_rejects_unknown_roles():
    result = _run_cli(
        ["dev-token", "--employee", "E-7", "--role", "superuser"],
        {"BRANDCAST_JWT_ALGORITHMS": "HS256", "BRANDCAST_JWT_SECRET": TEST_JWT_SECRET},
    )
    assert result.exit_code == 2
    assert result.stdout == ""
