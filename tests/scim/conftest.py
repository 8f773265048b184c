"""SCIM fixtures: an identity provider's client, User payloads and a look at the rows."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.principal import Scope
from app.employees.models import Employee

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


def scim_user(n: int, **overrides: Any) -> dict[str, Any]:
    """A complete User number `n`, as Okta or Entra ID would send it."""
    user: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": f"E{n:05d}",
        "userName": f"Person{n}@Example.com",
        "name": {"givenName": "Person", "familyName": f"Number{n}"},
        "displayName": f"Person {n}",
        "emails": [{"value": f"person{n}@example.com", "type": "work", "primary": True}],
        "title": "Account Executive",
        "locale": "es-ES",
        "active": True,
        ENTERPRISE: {"employeeNumber": f"{n}", "department": "Sales", "division": "Commercial"},
    }
    user.update(overrides)
    return user


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_scim_error(r: httpx.Response, status: int, scim_type: str | None = None) -> dict:
    """A SCIM error body (RFC 7644 §3.12) with the `application/scim+json` media type."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == SCIM_JSON
    body = r.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return body


@pytest.fixture
async def idp(client_for) -> httpx.AsyncClient:
    """An identity provider: a token with exactly `employees:write`, sending scim+json."""
    client = await client_for(Scope.EMPLOYEES_WRITE)
    client.headers["Content-Type"] = SCIM_JSON
    client.headers["Accept"] = SCIM_JSON
    return client


@pytest.fixture
def create(idp) -> Callable[..., Any]:
    """POST a User (number `n`, with overrides) and return the created body."""

    async def _create(n: int, **overrides: Any) -> dict[str, Any]:
        r = await idp.post("/scim/v2/Users", json=scim_user(n, **overrides))
        assert r.status_code == 201, r.text
        return r.json()

    return _create


@pytest.fixture
def stored(db) -> Callable[..., Any]:
    """The employee row with this external_id (or None)."""

    async def _stored(external_id: str) -> Employee | None:
        async with db() as s:
            return (
                await s.execute(select(Employee).where(Employee.external_id == external_id))
            ).scalar_one_or_none()

    return _stored
