"""The brand-alignment report against a small data set computed by hand.

Employees: Sales S1-S6, Support P1-P5, Legal L1-L2. Messages, all to all 13 of them:
- M1 `brand_promise`, 10 days ago, asks for acknowledgement, re-acknowledgement demanded
  (acknowledgement version 2), due 3 days ago;
- M2 `values`, 5 days ago, tag "fy26", no acknowledgement;
- M3 `mission`, 100 days ago (outside the default 90 days);
- M4 `news`, 5 days ago (not a brand category).

Per unit (minimum group size 5): Legal (2) is too small; (other) would hold 2, so Support (5,
the smallest shown) joins it: units are Sales and (other) = Support + Legal.
"""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert

from app.core.database import utcnow
from app.core.principal import Scope
from app.feedback.models import PulseAnswer
from app.messages.models import Message
from app.receipts.models import Recipient
from tests.messages.helpers import assert_problem

NOW = utcnow()
DUE = NOW - timedelta(days=3)
ON_TIME = DUE - timedelta(days=1)
LATE = DUE + timedelta(days=1)


def _message(category: str, days_ago: int, **fields) -> dict:
    published_at = NOW - timedelta(days=days_ago)
    return {
        "id": uuid.uuid4(),
        "category": category,
        "title": category,
        "body": "",
        "locale": "en",
        "translations": {},
        "priority": "normal",
        "tags": [],
        "requires_acknowledgement": False,
        "status": "published",
        "publish_at": published_at,
        "published_at": published_at,
        "version": 1,
        "acknowledgement_version": 1,
        "recipient_count": 13,
        "revision": 1,
        "created_by": "tests",
        "created_at": published_at,
        "updated_at": published_at,
        "feedback": {"reactions": True, "comments": True, "anonymous_comments": False},
        **fields,
    }


@pytest.fixture
async def arranged(people, db) -> dict[str, uuid.UUID]:
    ids = dict(
        zip(
            [f"S{i}" for i in range(1, 7)],
            await people(*[f"S{i}" for i in range(1, 7)], department="Sales", country="ES"),
            strict=True,
        )
    )
    ids |= dict(
        zip(
            [f"P{i}" for i in range(1, 6)],
            await people(*[f"P{i}" for i in range(1, 6)], department="Support", country="ES"),
            strict=True,
        )
    )
    ids |= dict(
        zip(["L1", "L2"], await people("L1", "L2", department="Legal", country="MX"), strict=True)
    )
    m1 = _message(
        "brand_promise",
        10,
        requires_acknowledgement=True,
        acknowledgement_text="I have read it",
        acknowledge_within_days=7,
        version=2,
        acknowledgement_version=2,
    )
    m2 = _message("values", 5, tags=["fy26"])
    m3 = _message("mission", 100, tags=["fy26"])
    m4 = _message("news", 5, tags=["fy26"])

    read = {
        m1["id"]: {"S1", "S2", "S3", "S4", "S5", "S6", "P1", "P2", "P3", "L1"},
        m2["id"]: {"S1", "S2", "S3", "L1", "L2"},
        m3["id"]: set(ids),
        m4["id"]: set(ids),
    }
    # (acknowledged_version, acknowledged_at) on M1
    acks = {
        "S1": (2, ON_TIME),
        "S2": (2, ON_TIME),
        "S3": (2, LATE),
        "S4": (2, LATE),
        "S5": (1, ON_TIME),  # an earlier version: no longer current
        "P1": (2, ON_TIME),
        "L1": (2, ON_TIME),
    }
    recipients = []
    for m in (m1, m2, m3, m4):
        for who, employee_id in ids.items():
            version, at = acks.get(who, (None, None)) if m is m1 else (None, None)
            recipients.append(
                {
                    "message_id": m["id"],
                    "employee_id": employee_id,
                    "targeted_at": m["published_at"],
                    "published_at": m["published_at"],
                    "due_at": DUE if m is m1 else None,
                    "read_at": m["published_at"] + timedelta(hours=1)
                    if who in read[m["id"]]
                    else None,
                    "acknowledged_at": at,
                    "acknowledged_version": version,
                }
            )
    scores = {
        m1["id"]: {"S1": 5, "S2": 4, "S3": 4, "S4": 3, "S5": 2, "P1": 1, "P2": 2, "L1": 5},
        m2["id"]: {"S6": 3, "S1": 5, "P3": 4, "P4": 4, "P5": 2},
        m3["id"]: {"L2": 1, "P1": 5},
        m4["id"]: {"L2": 1},
    }
    async with db() as s, s.begin():
        await s.execute(insert(Message), [m1, m2, m3, m4])
        await s.execute(insert(Recipient), recipients)
        await s.execute(
            insert(PulseAnswer),
            [
                {"message_id": m, "employee_id": ids[who], "score": v, "answered_at": NOW}
                for m, by in scores.items()
                for who, v in by.items()
            ],
        )
    return ids


def _reach(recipients, deliveries, read, requested, acked, due, on_time):
    rate = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    return {
        "recipients": recipients,
        "deliveries": deliveries,
        "read": read,
        "read_rate": rate(read, deliveries),
        "acknowledgement_requested": requested,
        "acknowledged": acked,
        "acknowledgement_rate": rate(acked, requested),
        "due": due,
        "acknowledged_on_time": on_time,
        "on_time_acknowledgement_rate": rate(on_time, due),
    }


async def test_brand_alignment_by_department(arranged, client_for):
    reader = await client_for(Scope.RECEIPTS_READ)
    r = await reader.get("/v1/reports/brand-alignment")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["group_by"] == "department" and body["min_group_size"] == 5
    assert body["categories"] == ["brand_promise", "mission", "values", "vision"]
    assert body["tag"] is None
    # Sales: 6 people x M1, M2 = 12 deliveries; read 6 + 3; M1 acknowledged in version 2 by
    # S1-S4 (S5's is of version 1), on time S1, S2; pulse: M1 S1-S5 (5+4+4+3+2), M2 S6, S1
    # (3+5) = 7 answers from 6 people, 26 / 7
    # (other) = Support + Legal: 7 people, 14 deliveries; read M1 P1-P3, L1 + M2 L1, L2 = 6;
    # acknowledged (and on time) P1, L1; pulse: M1 P1, P2, L1 (1+2+5), M2 P3-P5 (4+4+2) =
    # 6 answers from 6 people, 18 / 6
    assert body["units"] == [
        {
            "unit": "Sales",
            "reach": _reach(6, 12, 9, 6, 4, 6, 2),
            "pulse": {"respondents": 6, "responses": 7, "mean": 3.71},
            "advocacy": None,  # nobody shared (tests/advocacy has the figures)
        },
        {
            "unit": "(other)",
            "reach": _reach(7, 14, 6, 7, 2, 7, 2),
            "pulse": {"respondents": 6, "responses": 6, "mean": 3.0},
            "advocacy": None,
        },
    ]
    assert body["total"] == {
        "unit": "(all)",
        "reach": _reach(13, 26, 15, 13, 6, 13, 4),
        "pulse": {"respondents": 12, "responses": 13, "mean": round(44 / 13, 2)},
        "advocacy": {"sharers": 0, "shares": 0, "clicks": 0},
    }


async def test_brand_alignment_with_tag_and_other_units(arranged, admin):
    # only M2 (M3 is outside the period, M4 is news): Sales' 2 respondents are too few, so
    # its pulse joins (other): Sales S6, S1 + Support P3, P4, P5 = 5 people, (3+5+4+4+2) / 5
    r = await admin.get("/v1/reports/brand-alignment", params={"tag": "fy26"})
    body = r.json()
    assert body["tag"] == "fy26"
    assert body["units"] == [
        {
            "unit": "Sales",
            "reach": _reach(6, 6, 3, 0, 0, 0, 0),
            "pulse": None,
            "advocacy": None,
        },
        {
            "unit": "(other)",
            "reach": _reach(7, 7, 2, 0, 0, 0, 0),
            "pulse": {"respondents": 5, "responses": 5, "mean": 3.6},
            "advocacy": None,
        },
    ]
    assert body["total"]["pulse"] == {"respondents": 5, "responses": 5, "mean": 3.6}

    # by country: ES = Sales + Support (11 people), MX = Legal (2) too small; (other) would hold
    # 2, and ES is the only group, so everything is (other)
    r = await admin.get("/v1/reports/brand-alignment", params={"group_by": "country"})
    units = r.json()["units"]
    assert [u["unit"] for u in units] == ["(other)"]
    assert units[0]["reach"] == r.json()["total"]["reach"]

    # a longer period takes M3 in too
    r = await admin.get(
        "/v1/reports/brand-alignment",
        params={"since": (NOW - timedelta(days=120)).isoformat(), "until": NOW.isoformat()},
    )
    total = r.json()["total"]
    assert total["reach"]["deliveries"] == 39 and total["reach"]["read"] == 28
    assert total["pulse"]["responses"] == 15


async def test_brand_alignment_input_and_scopes(arranged, client_for, admin):
    assert_problem(
        await admin.get("/v1/reports/brand-alignment", params={"group_by": "salary"}), 422
    )
    assert_problem(
        await admin.get(
            "/v1/reports/brand-alignment",
            params={"since": NOW.isoformat(), "until": (NOW - timedelta(days=1)).isoformat()},
        ),
        422,
    )
    assert_problem(
        await admin.get("/v1/reports/brand-alignment", params={"since": "2026-01-01T00:00:00"}),
        422,
    )
    r = await admin.get("/v1/reports/brand-alignment", params={"tag": "nothing-has-this"})
    assert r.status_code == 200
    assert r.json()["units"] == [] and r.json()["total"]["reach"]["recipients"] == 0
    assert r.json()["total"]["pulse"] is None
    for scopes in ((Scope.MESSAGES_READ,), (Scope.MESSAGES_WRITE, Scope.AUDIT_READ)):
        client = await client_for(*scopes)
        assert_problem(await client.get("/v1/reports/brand-alignment"), 403)
