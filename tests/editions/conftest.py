"""A company with three countries, HQ and scoped editors, for the editions tests.

- employees MX-1..MX-6 (es-MX), AR-1..AR-5 (es-AR), ES-1..ES-5 (es-ES); the editors ED-MX,
  ED-AR and the approvers AP-MX, AP-AR are employees of their countries too;
- grants: ED-MX `local_editor` of `country=MX`, ED-AR of `country=AR`, AP-MX `approver` of
  `country=MX`, AP-AR of `country=AR`;
- clients: `hq` (an admin token), `mx_editor`, `ar_editor`, `mx_approver`, `ar_approver`,
  `employee` (MX-1, no role): SSO tokens with no role claim.
"""

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.core.principal import Scope
from tests.me.conftest import bearer, hs256

COUNTRIES = {"MX": ("es-MX", 6), "AR": ("es-AR", 5), "ES": ("es-ES", 5)}
STAFF = {"ED-MX": "MX", "ED-AR": "AR", "AP-MX": "MX", "AP-AR": "AR"}
GRANTS = {
    "ED-MX": ("local_editor", "MX"),
    "ED-AR": ("local_editor", "AR"),
    "AP-MX": ("approver", "MX"),
    "AP-AR": ("approver", "AR"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # review before publishing as configured by default
    return settings.model_copy(update={"review_required": "policy,brand_promise"})


@dataclass
class World:
    hq: httpx.AsyncClient
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> httpx.AsyncClient:
        try:
            return self.clients[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_employee(self, external_id: str) -> dict[str, str]:
        return bearer(hs256(external_id))

    make_hq_approver: Any = None

    async def message(self, client: httpx.AsyncClient, audience: str, **fields: Any) -> str:
        body = {"category": "news", "title": "Hello", "audience_ids": [audience], **fields}
        r = await client.post("/v1/messages", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def publish(self, client: httpx.AsyncClient, message_id: str) -> dict[str, Any]:
        r = await client.post(f"/v1/messages/{message_id}/publish")
        assert r.status_code == 200, r.text
        return r.json()


async def _employee(hq: httpx.AsyncClient, external_id: str, country: str, locale: str) -> None:
    r = await hq.put(
        f"/v1/employees/{external_id}",
        json={
            "email": f"{external_id.lower()}@example.com",
            "display_name": f"Employee {external_id}",
            "country": country,
            "locale": locale,
            "department": "Retail",
        },
    )
    assert r.status_code in (200, 201), r.text


def _client(app: Any, headers: dict[str, str]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@pytest.fixture
async def world(app, admin, client_for) -> Any:
    for country, (locale, count) in COUNTRIES.items():
        for n in range(1, count + 1):
            await _employee(admin, f"{country}-{n}", country, locale)
    for external_id, country in STAFF.items():
        await _employee(admin, external_id, country, COUNTRIES[country][0])
    for external_id, (role, country) in GRANTS.items():
        r = await admin.post(
            "/v1/editor-grants",
            json={
                "employee_external_id": external_id,
                "role": role,
                "scope": {"country": country},
            },
        )
        assert r.status_code == 201, r.text
    names = {
        "mx_editor": "ED-MX",
        "ar_editor": "ED-AR",
        "mx_approver": "AP-MX",
        "ar_approver": "AP-AR",
        "employee": "MX-1",
    }
    clients = {name: _client(app, bearer(hs256(sub))) for name, sub in names.items()}
    w = World(hq=admin, clients=clients)

    async def _hq_approver() -> httpx.AsyncClient:
        # another HQ credential: four eyes
        return await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)

    w.make_hq_approver = _hq_approver
    r = await admin.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}})
    w.ids["everyone"] = r.json()["id"]
    yield w
    for c in clients.values():
        await c.aclose()
