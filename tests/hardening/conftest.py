"""Fixtures for hardening tests; fault tests run only when asked for.

Tests marked `faults` start real service processes and PostgreSQL clusters: they run when
BRANDCAST_FAULT_TESTS=1 (`.ci/run` does), and then fail rather than skip when PostgreSQL is
not reachable.
"""

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jose import jwt

from app.core.config import Settings
from tests.conftest import TEST_JWT_SECRET

FAULT_TESTS = os.environ.get("BRANDCAST_FAULT_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FAULT_TESTS:
        return
    skip = pytest.mark.skip(reason="fault tests run with BRANDCAST_FAULT_TESTS=1 (see .ci/run)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # as in tests/conftest.py, plus a webhook target on loopback and no rate limit
    return Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        webhook_allowed_hosts="127.0.0.1",
        rate_limit_per_minute=0,
    )


def employee_jwt(external_id: str, *, secret: str = TEST_JWT_SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": external_id, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture
def employee_client(app) -> Callable[[str], httpx.AsyncClient]:
    """A client signed in as the employee with this external id (HS256 test secret)."""

    def _make(external_id: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {employee_jwt(external_id)}"}
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)

    return _make
