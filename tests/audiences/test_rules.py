"""Each operator on each attribute type, through `POST /v1/audiences/preview`.

The directory is the one in conftest.py: e1-e5 active (e4 has no attributes at all), x6 inactive.
"""

from typing import Any

import pytest

ACTIVE = {"e1", "e2", "e3", "e4", "e5"}


def leaf(attribute: str, op: str, value: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "value": value}


async def reach(client, rule: dict[str, Any], **lists: list[str]) -> set[str]:
    r = await client.post("/v1/audiences/preview", json={"rule": rule, **lists})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [m["external_id"] for m in body["sample"]]
    assert ids == sorted(ids)
    assert body["count"] == len(ids)
    return set(ids)


async def check(client, cases: list[tuple[dict[str, Any], set[str]]]) -> None:
    for rule, expected in cases:
        assert await reach(client, rule) == expected, rule


async def test_text_attributes(admin, people):
    await check(
        admin,
        [
            (leaf("department", "eq", "Sales"), {"e1", "e2"}),
            (leaf("department", "eq", "sales"), set()),  # exact, on both databases
            # ne / not_in leave out employees whose department is unknown (e4)
            (leaf("department", "ne", "Sales"), {"e3", "e5"}),
            (leaf("department", "in", ["Sales", "Support"]), {"e1", "e2", "e5"}),
            (leaf("department", "not_in", ["Sales"]), {"e3", "e5"}),
            (leaf("department", "starts_with", "Sa"), {"e1", "e2"}),
            (leaf("department", "starts_with", "sa"), set()),
            (leaf("department", "exists", True), {"e1", "e2", "e3", "e5"}),
            (leaf("department", "exists", False), {"e4"}),
            (leaf("division", "eq", "Retail"), {"e1", "e2"}),
            (leaf("location", "in", ["Madrid", "Berlin"]), {"e1", "e3"}),
            (leaf("job_title", "starts_with", "Sales "), {"e2"}),
            (leaf("manager_external_id", "eq", "e1"), {"e2", "e5"}),
            (leaf("manager_external_id", "starts_with", "m"), {"e1", "e3"}),
            (leaf("manager_external_id", "exists", False), {"e4"}),
        ],
    )


async def test_country_locale_and_employment_type(admin, people):
    await check(
        admin,
        [
            (leaf("country", "eq", "es"), {"e1"}),  # normalized to ES
            (leaf("country", "in", ["ES", "MX", "AR"]), {"e1", "e2", "e5"}),
            (leaf("country", "ne", "ES"), {"e2", "e3", "e5"}),
            (leaf("country", "not_in", ["ES", "DE"]), {"e2", "e5"}),
            (leaf("country", "exists", False), {"e4"}),
            (leaf("locale", "eq", "es_mx"), {"e2"}),  # normalized to es-MX
            (leaf("locale", "starts_with", "es"), {"e1", "e2", "e5"}),
            (leaf("locale", "in", ["de-DE", "es-AR"]), {"e3", "e5"}),
            (leaf("locale", "ne", "de-DE"), {"e1", "e2", "e5"}),
            (leaf("employment_type", "eq", "full_time"), {"e1", "e3"}),
            (leaf("employment_type", "ne", "full_time"), {"e2", "e5"}),
            (leaf("employment_type", "in", ["part_time", "contractor"]), {"e2", "e5"}),
            (leaf("employment_type", "not_in", ["full_time", "intern"]), {"e2", "e5"}),
            (leaf("employment_type", "exists", False), {"e4"}),
        ],
    )


async def test_integer_attribute(admin, people):
    await check(
        admin,
        [
            (leaf("job_level", "eq", 2), {"e2"}),
            (leaf("job_level", "ne", 2), {"e1", "e3", "e5"}),
            (leaf("job_level", "in", [1, 2]), {"e2", "e5"}),
            (leaf("job_level", "not_in", [1, 2]), {"e1", "e3"}),
            (leaf("job_level", "lt", 3), {"e2", "e5"}),
            (leaf("job_level", "lte", 3), {"e2", "e3", "e5"}),
            (leaf("job_level", "gt", 3), {"e1"}),
            (leaf("job_level", "gte", 3), {"e1", "e3"}),
            (leaf("job_level", "exists", True), {"e1", "e2", "e3", "e5"}),
            (leaf("job_level", "exists", False), {"e4"}),
        ],
    )


async def test_boolean_attribute(admin, people):
    await check(
        admin,
        [
            (leaf("customer_facing", "eq", True), {"e1", "e2", "e5"}),
            (leaf("customer_facing", "eq", False), {"e3", "e4"}),
            (leaf("customer_facing", "ne", True), {"e3", "e4"}),
            (leaf("customer_facing", "exists", True), ACTIVE),
        ],
    )


async def test_date_attribute(admin, people):
    await check(
        admin,
        [
            (leaf("hire_date", "eq", "2024-03-01"), {"e1"}),
            (leaf("hire_date", "ne", "2024-03-01"), {"e2", "e3", "e5"}),
            (leaf("hire_date", "in", ["2024-03-01", "2023-01-10"]), {"e1", "e3"}),
            (leaf("hire_date", "not_in", ["2024-03-01"]), {"e2", "e3", "e5"}),
            (leaf("hire_date", "lt", "2024-12-31"), {"e1", "e3"}),
            (leaf("hire_date", "lte", "2024-12-31"), {"e1", "e3", "e5"}),
            (leaf("hire_date", "gt", "2024-12-31"), {"e2"}),
            (leaf("hire_date", "gte", "2024-12-31"), {"e2", "e5"}),
            (leaf("hire_date", "exists", False), {"e4"}),
            # relative to today: e2 was hired 30 days ago
            (leaf("hire_date", "gte", "-P90D"), {"e2"}),
            (leaf("hire_date", "gte", "-P4W"), set()),
            (leaf("hire_date", "lt", "-P90D"), {"e1", "e3", "e5"}),
        ],
    )


async def test_custom_attributes_by_value_type(admin, people):
    # e3 holds cost_center as a number and shift_hours as text: a rule compares only values
    # of its own JSON type, so they neither match nor break the query on PostgreSQL
    await check(
        admin,
        [
            (leaf("attributes.cost_center", "eq", "4100"), {"e1"}),
            (leaf("attributes.cost_center", "eq", 4100), {"e3"}),
            (leaf("attributes.cost_center", "ne", "4100"), {"e2"}),
            (leaf("attributes.cost_center", "in", ["4100", "4200"]), {"e1", "e2"}),
            (leaf("attributes.cost_center", "not_in", ["4100"]), {"e2"}),
            (leaf("attributes.cost_center", "starts_with", "4"), {"e1", "e2"}),
            (leaf("attributes.cost_center", "exists", True), {"e1", "e2", "e3"}),
            (leaf("attributes.cost_center", "exists", False), {"e4", "e5"}),
            (leaf("attributes.shift_hours", "eq", 6.5), {"e2"}),
            (leaf("attributes.shift_hours", "eq", 8), {"e1"}),
            (leaf("attributes.shift_hours", "ne", 8), {"e2"}),
            (leaf("attributes.shift_hours", "in", [8, 9]), {"e1"}),
            (leaf("attributes.shift_hours", "not_in", [8]), {"e2"}),
            (leaf("attributes.shift_hours", "lt", 7), {"e2"}),
            (leaf("attributes.shift_hours", "lte", 8), {"e1", "e2"}),
            (leaf("attributes.shift_hours", "gt", 6), {"e1", "e2"}),
            (leaf("attributes.shift_hours", "gte", 8), {"e1"}),
            (leaf("attributes.shift_hours", "eq", "8"), {"e3"}),
            (leaf("attributes.union_member", "eq", True), {"e1", "e5"}),
            (leaf("attributes.union_member", "eq", False), {"e2"}),
            (leaf("attributes.union_member", "ne", True), {"e2"}),
            (leaf("attributes.union_member", "exists", False), {"e3", "e4"}),
            (leaf("attributes.nothing_here", "exists", False), ACTIVE),
        ],
    )


async def test_groups_nesting_and_not(admin, people):
    sales = leaf("department", "eq", "Sales")
    await check(
        admin,
        [
            ({"all": []}, ACTIVE),
            ({"any": []}, set()),
            ({"not": {"all": []}}, set()),
            # `not` of a condition includes employees for whom the value is missing
            ({"not": sales}, {"e3", "e4", "e5"}),
            ({"not": {"not": sales}}, {"e1", "e2"}),
            ({"not": leaf("attributes.union_member", "eq", True)}, {"e2", "e3", "e4"}),
            ({"not": leaf("job_level", "gt", 2)}, {"e2", "e4", "e5"}),
            (
                {
                    "all": [
                        leaf("customer_facing", "eq", True),
                        {
                            "any": [
                                leaf("country", "eq", "ES"),
                                {"all": [leaf("country", "eq", "MX"), leaf("job_level", "lt", 3)]},
                            ]
                        },
                    ]
                },
                {"e1", "e2"},
            ),
            ({"any": [sales, leaf("job_level", "eq", 1)]}, {"e1", "e2", "e5"}),
            ({"all": [sales, {"not": leaf("country", "eq", "ES")}]}, {"e2"}),
            # the example: customer-facing staff in ES, MX and AR hired before 2025
            (
                {
                    "all": [
                        leaf("customer_facing", "eq", True),
                        leaf("country", "in", ["ES", "MX", "AR"]),
                        leaf("hire_date", "lt", "2025-01-01"),
                    ]
                },
                {"e1", "e5"},
            ),
        ],
    )


async def test_include_exclude_and_inactive(admin, people):
    sales = leaf("department", "eq", "Sales")
    # the inactive x6 is in Sales and listed, and still no member
    assert await reach(admin, sales) == {"e1", "e2"}
    assert await reach(admin, sales, include_external_ids=["e3", "x6", "unknown"]) == {
        "e1",
        "e2",
        "e3",
    }
    assert await reach(admin, sales, exclude_external_ids=["e2"]) == {"e1"}
    # exclude wins over the rule and over the include list
    assert await reach(
        admin, sales, include_external_ids=["e3", "e4"], exclude_external_ids=["e1", "e3"]
    ) == {"e2", "e4"}
    assert await reach(admin, {"any": []}, include_external_ids=["e5", "x6"]) == {"e5"}


@pytest.mark.parametrize("size", [1, 10_000])
async def test_long_include_lists_are_one_parameter(admin, people, size):
    listed = [f"nobody-{i}" for i in range(size - 1)] + ["e4"]
    assert await reach(admin, {"any": []}, include_external_ids=listed) == {"e4"}
    assert await reach(admin, {"all": []}, exclude_external_ids=listed) == ACTIVE - {"e4"}
