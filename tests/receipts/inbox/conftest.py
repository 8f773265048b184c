"""The inbox rules end to end: the delivery fixtures (a real SMTP server on loopback), a fixed
clock passed to the sender (`send(now)`), and preferences set through the API."""

from datetime import UTC, datetime

import pytest

from tests.receipts.delivery.conftest import send, settings, smtp, world  # noqa: F401

# Monday 7 January 2030: Madrid is UTC+1, Mexico City UTC-6 (no daylight saving time)
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant in January 2030."""
    return datetime(2030, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def prefs(world):  # noqa: F811
    """Set an employee's preferences through the admin API."""

    async def _set(external_id: str, **body) -> dict:
        r = await world.admin.put(f"/v1/employees/{external_id}/preferences", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    return _set


@pytest.fixture
def mails(world):  # noqa: F811
    """An employee's e-mail deliveries as the API lists them, oldest first."""

    async def _of(external_id: str) -> list[dict]:
        r = await world.admin.get(f"/v1/employees/{external_id}/deliveries", params={"limit": 100})
        assert r.status_code == 200, r.text
        return list(reversed(r.json()["items"]))

    return _of
