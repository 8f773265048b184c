"""Employee fixtures: a writer client, record factories and a recorder for the hook."""

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.principal import Scope
from app.employees.models import Employee
from app.receipts import service as receipts_service


def person(n: int, **overrides: Any) -> dict[str, Any]:
    """A complete, valid employee record number `n`."""
    record = {
        "external_id": f"E{n:05d}",
        "email": f"person{n}@example.com",
        "display_name": f"Person {n}",
        "given_name": "Person",
        "family_name": f"Number{n}",
        "department": "Sales",
        "division": "Commercial",
        "location": "Madrid HQ",
        "country": "ES",
        "job_title": "Account Executive",
        "job_level": 4,
        "employment_type": "full_time",
        "customer_facing": True,
        "hire_date": "2021-04-01",
        "locale": "es-ES",
        "attributes": {"cost_center": "CC-310", "shift_hours": 8},
    }
    record.update(overrides)
    return record


def without_id(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "external_id"}


@pytest.fixture
async def writer(client_for) -> httpx.AsyncClient:
    """An HRIS integration: may read and write employees, nothing else."""
    return await client_for(Scope.EMPLOYEES_READ, Scope.EMPLOYEES_WRITE)


@pytest.fixture
def enrolled(monkeypatch) -> list[list[uuid.UUID]]:
    """Every call of the late-joiner hook, as the list of ids it received."""
    calls: list[list[uuid.UUID]] = []

    async def _record(_session, *, employee_ids: Sequence[uuid.UUID]) -> int:
        calls.append(list(employee_ids))
        return 0

    monkeypatch.setattr(receipts_service, "enroll_late_joiners", _record)
    return calls


@pytest.fixture
def rows(db) -> Callable[..., Any]:
    """All employees (or those matching a where-clause) as ORM rows, by external_id."""

    async def _rows(*where: Any) -> dict[str, Employee]:
        async with db() as s:
            found = (await s.execute(select(Employee).where(*where))).scalars().all()
        return {e.external_id: e for e in found}

    return _rows
