"""Editor grants: who may give them, their shape, one unit per grantee, and what they make
of a principal."""

from app.core.principal import Scope
from tests.messages.helpers import assert_problem


async def test_grant_lifecycle(world, client_for):
    r = await world.hq.get("/v1/editor-grants")
    assert r.status_code == 200
    grants = r.json()["items"]
    assert {(g["employee_external_id"], g["role"], g["unit"]) for g in grants} >= {
        ("ED-MX", "local_editor", "country=MX"),
        ("AP-MX", "approver", "country=MX"),
    }
    mx = next(g for g in grants if g["employee_external_id"] == "ED-MX")
    assert mx["scope"] == {"country": ["MX"]}

    # a second unit for the same grantee: 409; the same role twice: 409
    r = await world.hq.post(
        "/v1/editor-grants",
        json={"employee_external_id": "ED-MX", "role": "approver", "scope": {"country": "AR"}},
    )
    assert_problem(r, 409, detail_contains="country=MX")
    r = await world.hq.post(
        "/v1/editor-grants",
        json={"employee_external_id": "ED-MX", "role": "local_editor", "scope": {"country": "mx"}},
    )
    assert_problem(r, 409)

    # withdrawn: the editor is an ordinary employee again at once
    assert (await world.mx_editor.get("/v1/messages")).status_code == 200
    assert (await world.hq.delete(f"/v1/editor-grants/{mx['id']}")).status_code == 204
    assert_problem(await world.mx_editor.get("/v1/messages"), 403)
    assert_problem(await world.hq.delete(f"/v1/editor-grants/{mx['id']}"), 404)

    # tokens:admin only
    narrow = await client_for(Scope.MESSAGES_WRITE)
    assert_problem(await narrow.get("/v1/editor-grants"), 403)
    assert_problem(await world.mx_editor.get("/v1/editor-grants"), 403)


async def test_grant_input_is_validated(world):
    cases = [
        ({"role": "local_editor", "scope": {"country": "MX"}}, "body"),
        (
            {"employee_external_id": "NOBODY", "role": "local_editor", "scope": {"country": "MX"}},
            "body.employee_external_id",
        ),
        (
            {"employee_external_id": "MX-2", "role": "boss", "scope": {"country": "MX"}},
            "body.role",
        ),
        (
            {"employee_external_id": "MX-2", "role": "approver", "scope": {"planet": "Mars"}},
            "body.scope.planet",
        ),
        (
            {"employee_external_id": "MX-2", "role": "approver", "scope": {"country": "XX"}},
            "body.scope.country",
        ),
        ({"employee_external_id": "MX-2", "role": "approver", "scope": {}}, "body.scope"),
        (
            {
                "employee_external_id": "MX-2",
                "role": "approver",
                "scope": {"country": "MX"},
                "extra": 1,
            },
            "body.extra",
        ),
    ]
    for body, loc in cases:
        r = await world.hq.post("/v1/editor-grants", json=body)
        problem = assert_problem(r, 422)
        assert any(e["loc"].startswith(loc) for e in problem["errors"]), (body, problem)


async def test_a_token_grant_scopes_the_token(world, app, mint_token):
    import httpx

    raw = await mint_token(Scope.ADMIN, name="mx-script")
    token_id = next(
        t["id"]
        for t in (await world.hq.get("/v1/tokens")).json()["items"]
        if t["name"] == "mx-script"
    )
    r = await world.hq.post(
        "/v1/editor-grants",
        json={"token_id": token_id, "role": "local_editor", "scope": {"country": ["MX", "AR"]}},
    )
    assert r.status_code == 201, r.text
    assert r.json()["unit"] == "country=AR,MX"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {raw}"}
    ) as scoped:
        # an admin token scoped to a unit keeps only content, audiences and figures
        for path in ("/v1/tokens", "/v1/audit-events", "/v1/webhooks", "/v1/employees"):
            assert_problem(await scoped.get(path), 403)
        r = await scoped.post("/v1/audiences/preview", json={"rule": {"all": []}})
        assert r.status_code == 200
        assert r.json()["count"] == 6 + 5 + 4  # MX and AR people, with their four editors
