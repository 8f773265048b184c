"""Rule validation: 422 problem+json whose `loc` points into the tree."""

from typing import Any


def leaf(attribute: Any, op: Any, value: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "value": value}


def nested(depth: int) -> dict[str, Any]:
    """A rule `depth` levels deep: `not` wrappers around one condition."""
    rule: dict[str, Any] = leaf("department", "eq", "Sales")
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


async def errors_of(client, rule: Any, path: str = "/v1/audiences/preview") -> list[dict]:
    body = {"rule": rule} if path.endswith("preview") else {"name": "x", "rule": rule}
    r = await client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    return problem["errors"]


async def first_loc(client, rule: Any) -> str:
    return (await errors_of(client, rule))[0]["loc"]


PATHS = [
    # unknown attribute, operator, keys
    (leaf("salary", "eq", 1), "body.rule.attribute"),
    (leaf("attributes.", "eq", 1), "body.rule.attribute"),
    (leaf("attributes.bad key", "eq", 1), "body.rule.attribute"),
    (leaf(7, "eq", 1), "body.rule.attribute"),
    (leaf("department", "like", "S%"), "body.rule.op"),
    ({**leaf("department", "eq", "Sales"), "extra": 1}, "body.rule.extra"),
    ({"attribute": "department", "op": "eq"}, "body.rule.value"),
    ({"all": [], "any": []}, "body.rule.any"),
    ({"every": []}, "body.rule"),
    ({"all": {}}, "body.rule.all"),
    ({"all": [1]}, "body.rule.all[0]"),
    ({"not": [leaf("department", "eq", "Sales")]}, "body.rule.not"),
    # operator not valid for the type
    ({"all": [{"all": []}, leaf("customer_facing", "lt", True)]}, "body.rule.all[1].op"),
    (leaf("job_level", "starts_with", "1"), "body.rule.op"),
    (leaf("attributes.shift_hours", "starts_with", 8), "body.rule.op"),
    (leaf("attributes.union_member", "in", [True]), "body.rule.op"),
    (leaf("department", "gt", "M"), "body.rule.op"),
    (leaf("country", "starts_with", "E"), "body.rule.op"),
    # wrong value type
    ({"all": [{"all": []}, leaf("country", "eq", "Spain")]}, "body.rule.all[1].value"),
    (leaf("country", "in", ["ES", "XX"]), "body.rule.value[1]"),
    (leaf("hire_date", "lt", "2025-13-01"), "body.rule.value"),
    (leaf("hire_date", "lt", "01/02/2025"), "body.rule.value"),
    (leaf("hire_date", "gt", "-90 days"), "body.rule.value"),
    (leaf("job_level", "eq", "3"), "body.rule.value"),
    (leaf("job_level", "eq", True), "body.rule.value"),
    (leaf("job_level", "eq", 2.5), "body.rule.value"),
    (leaf("job_level", "lt", 2**40), "body.rule.value"),
    (leaf("customer_facing", "eq", "yes"), "body.rule.value"),
    (leaf("employment_type", "eq", "freelance"), "body.rule.value"),
    (leaf("locale", "eq", "not a locale"), "body.rule.value"),
    (leaf("department", "eq", ""), "body.rule.value"),
    (leaf("department", "eq", 5), "body.rule.value"),
    (leaf("attributes.cost_center", "eq", None), "body.rule.value"),
    (leaf("attributes.cost_center", "eq", {"a": 1}), "body.rule.value"),
    (leaf("attributes.cost_center", "in", ["4100", 4100]), "body.rule.value[1]"),
    # list operators
    (leaf("department", "in", []), "body.rule.value"),
    (leaf("department", "not_in", "Sales"), "body.rule.value"),
    (leaf("department", "in", ["x"] * 1001), "body.rule.value"),
    # exists takes a boolean
    (leaf("department", "exists", "yes"), "body.rule.value"),
    (leaf("department", "exists", 1), "body.rule.value"),
]


async def test_bad_rules_name_the_path(admin):
    wrong = []
    for rule, loc in PATHS:
        errors = await errors_of(admin, rule)
        assert errors[0]["msg"]
        if errors[0]["loc"] != loc:
            wrong.append((rule, loc, errors))
    assert wrong == []


async def test_every_bad_node_is_reported(admin):
    rule = {
        "any": [
            leaf("department", "eq", "Sales"),
            leaf("country", "eq", "Spain"),
            {"not": leaf("job_level", "lt", "two")},
            leaf("nope", "eq", 1),
        ]
    }
    errors = await errors_of(admin, rule)
    assert [e["loc"] for e in errors] == [
        "body.rule.any[1].value",
        "body.rule.any[2].not.value",
        "body.rule.any[3].attribute",
    ]


async def test_depth_limit(admin, people):
    r = await admin.post("/v1/audiences/preview", json={"rule": nested(10)})
    assert r.status_code == 200, r.text
    errors = await errors_of(admin, nested(11))
    assert errors == [
        {
            "loc": "body.rule" + ".not" * 10,
            "msg": "Rules nest at most 10 levels deep.",
            "type": "value_error",
        }
    ]


async def test_leaf_limit(admin, people):
    many = [leaf("job_level", "eq", i) for i in range(200)]
    r = await admin.post("/v1/audiences/preview", json={"rule": {"any": many}})
    assert r.status_code == 200, r.text
    errors = await errors_of(admin, {"any": [*many, leaf("job_level", "eq", 200)]})
    assert errors[0]["loc"] == "body.rule"
    assert "at most 200 conditions" in errors[0]["msg"]


async def test_node_limit(admin):
    errors = await errors_of(admin, {"any": [{"all": []}] * 1000})
    assert errors[0]["loc"] == "body.rule.any[999]"


async def test_rule_errors_on_create_and_patch(admin):
    errors = await errors_of(
        admin, {"all": [leaf("country", "eq", "ES"), leaf("job_level", "gt", "x")]}, "/v1/audiences"
    )
    assert errors[0]["loc"] == "body.rule.all[1].value"

    r = await admin.post("/v1/audiences", json={"name": "x", "rule": {"all": []}})
    assert r.status_code == 201
    r = await admin.patch(
        f"/v1/audiences/{r.json()['id']}", json={"rule": {"not": leaf("hire_date", "lt", 5)}}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.rule.not.value"


async def test_rule_must_be_an_object(admin):
    r = await admin.post("/v1/audiences/preview", json={"rule": [1]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.rule"
    r = await admin.post("/v1/audiences/preview", json={})
    assert r.json()["errors"][0]["loc"] == "body.rule"


async def test_stored_rule_is_normalized(admin):
    rule = {
        "all": [
            leaf("country", "in", ["es", "mx"]),
            leaf("locale", "eq", "es_mx"),
            leaf("hire_date", "gte", "-P90D"),
        ]
    }
    r = await admin.post("/v1/audiences", json={"name": "x", "rule": rule})
    assert r.status_code == 201
    assert r.json()["rule"] == {
        "all": [
            leaf("country", "in", ["ES", "MX"]),
            leaf("locale", "eq", "es-MX"),
            leaf("hire_date", "gte", "-P90D"),
        ]
    }
