"""Every route that shows or changes messages, audiences, members or figures, called by HQ, the
MX and AR local editors, the MX approver and an employee: the expected status, and no other
unit's messages, audiences, people or figures in any body."""

import pytest

from tests.messages.helpers import assert_problem

CALLERS = ("hq", "mx_editor", "ar_editor", "mx_approver", "employee")


@pytest.fixture
async def scene(world):
    ids = world.ids
    ids["hq_loc"] = await world.message(
        world.hq,
        ids["everyone"],
        category="values",
        title="Our values",
        localizable=True,
        locked=["body"],
        requires_acknowledgement=True,
        acknowledgement_text="I have read it.",
    )
    await world.publish(world.hq, ids["hq_loc"])
    ids["hq_plain"] = await world.message(world.hq, ids["everyone"], title="HQ only")
    await world.publish(world.hq, ids["hq_plain"])
    for unit, editor in (("mx", world.mx_editor), ("ar", world.ar_editor)):
        r = await editor.post("/v1/audiences", json={"name": f"All {unit}", "rule": {"all": []}})
        assert r.status_code == 201, r.text
        ids[f"{unit}_aud"] = r.json()["id"]
        ids[f"{unit}_msg"] = await world.message(editor, ids[f"{unit}_aud"], title=f"{unit} news")
        await world.publish(editor, ids[f"{unit}_msg"])
    return world


def _foreign(world, caller: str) -> list[str]:
    """What the caller must never see."""
    ids = world.ids
    ar = [ids["ar_msg"], ids["ar_aud"], "AR-1", "AR-2", "AR news"]
    mx = [ids["mx_msg"], ids["mx_aud"], "MX-1", "MX-2", "mx news"]
    return {
        "mx_editor": [*ar, ids["hq_plain"], "ES-1"],
        "mx_approver": [*ar, ids["hq_plain"], "ES-1"],
        "ar_editor": [*mx, ids["hq_plain"], "ES-1"],
    }.get(caller, [])


def expect(**statuses: int) -> dict[str, int]:
    """The status each caller gets (an employee without a role: always 403)."""
    return statuses


# (method, path, body, {caller: status}); paths name the scene's ids in braces
ROUTES = [
    ("GET", "/v1/messages", None, expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200)),
    (
        "GET",
        "/v1/messages/{mx_msg}",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_plain}",
        None,
        expect(hq=200, mx_editor=404, ar_editor=404, mx_approver=404),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{mx_msg}/versions",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "PATCH",
        "/v1/messages/{mx_msg}",
        {"tags": ["t"]},
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=403),
    ),
    (
        "PATCH",
        "/v1/messages/{hq_loc}",
        {"tags": ["t"]},
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "PUT",
        "/v1/messages/{mx_msg}/translations/pt",
        {"title": "Olá"},
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=403),
    ),
    (
        "DELETE",
        "/v1/messages/{mx_msg}/translations/pt",
        None,
        expect(ar_editor=404, mx_approver=403),
    ),
    (
        "POST",
        "/v1/messages/{ar_msg}/publish",
        None,
        expect(hq=409, mx_editor=404, ar_editor=409, mx_approver=404),
    ),
    ("POST", "/v1/messages/{ar_msg}/archive", None, expect(mx_editor=404, mx_approver=404)),
    ("DELETE", "/v1/messages/{ar_msg}", None, expect(hq=409, mx_editor=404, mx_approver=404)),
    (
        "POST",
        "/v1/messages/{hq_loc}/reminders",
        None,
        expect(mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    ("GET", "/v1/audiences", None, expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200)),
    (
        "GET",
        "/v1/audiences/{ar_aud}",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    (
        "GET",
        "/v1/audiences/{everyone}",
        None,
        expect(hq=200, mx_editor=404, ar_editor=404, mx_approver=404),
    ),
    (
        "GET",
        "/v1/audiences/{ar_aud}/members",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    (
        "PATCH",
        "/v1/audiences/{ar_aud}",
        {"description": "x"},
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=403),
    ),
    ("DELETE", "/v1/audiences/{ar_aud}", None, expect(mx_editor=404, mx_approver=403)),
    (
        "POST",
        "/v1/audiences/preview",
        {"rule": {"all": []}},
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/stats",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/stats?group_by=country",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{ar_msg}/stats",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/recipients",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_plain}/recipients",
        None,
        expect(hq=200, mx_editor=404, ar_editor=404, mx_approver=404),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/deliveries",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/messages/{mx_msg}/deliveries",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/feedback",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/messages/{mx_msg}/feedback",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/comments",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/messages/{ar_msg}/comments",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    (
        "GET",
        "/v1/reports/brand-alignment?group_by=country",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/editions",
        None,
        expect(hq=200, mx_editor=200, ar_editor=200, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{ar_msg}/editions",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    (
        "GET",
        "/v1/messages/{mx_msg}/preview?employee=MX-2",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/preview?employee=AR-1",
        None,
        expect(hq=200, mx_editor=404, ar_editor=200, mx_approver=404),
    ),
    ("GET", "/v1/employees", None, expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403)),
    (
        "GET",
        "/v1/employees/AR-1",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/audit-events",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    ("GET", "/v1/tokens", None, expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403)),
    ("GET", "/v1/webhooks", None, expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403)),
    # what the inbox rules, comprehension checks, actions and the listening loop added
    (
        "GET",
        "/v1/messages/{hq_loc}/delivery-preview",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/messages/{mx_msg}/delivery-preview",
        None,
        expect(hq=200, mx_editor=200, ar_editor=404, mx_approver=200),
    ),
    (
        "GET",
        "/v1/messages/{hq_loc}/quiz-report",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/employees/AR-1/deliveries",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/employees/AR-1/preferences",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/reports/delivery",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    (
        "GET",
        "/v1/reports/listening",
        None,
        expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
    ("GET", "/v1/actions", None, expect(hq=200, mx_editor=403, ar_editor=403, mx_approver=403)),
    (
        "POST",
        "/v1/actions",
        {"title": "More local news", "owner_unit": "country=MX"},
        expect(hq=422, mx_editor=403, ar_editor=403, mx_approver=403),
    ),
]


async def test_every_route_for_every_caller(scene):
    world = scene
    seen = 0
    for method, template, body, expected in ROUTES:
        path = template.format(**world.ids)
        # an employee without a role may use none of them
        for caller, status in {**expected, "employee": 403}.items():
            client = world.hq if caller == "hq" else world.clients[caller]
            r = await client.request(method, path, json=body)
            assert r.status_code == status, (caller, method, template, r.text)
            if r.status_code >= 400:
                assert r.headers["content-type"] == "application/problem+json"
            for secret in _foreign(world, caller):
                assert secret not in r.text, (caller, method, template, secret)
            seen += 1
    assert seen == sum(len({**expected, "employee": 403}) for *_, expected in ROUTES)


async def test_figures_are_restricted_to_the_unit(scene):
    world, ids = scene, scene.ids
    r = await world.mx_editor.get(f"/v1/messages/{ids['hq_loc']}/stats")
    assert r.json()["recipients"] == 8  # MX-1..6 and the two MX editors
    r = await world.hq.get(f"/v1/messages/{ids['hq_loc']}/stats")
    assert r.json()["recipients"] == 20
    r = await world.mx_editor.get(f"/v1/messages/{ids['hq_loc']}/stats?group_by=country")
    assert [g["key"] for g in r.json()["groups"]] == ["MX"]
    r = await world.mx_editor.get(f"/v1/messages/{ids['hq_loc']}/recipients")
    people = {item["external_id"] for item in r.json()["items"]}
    assert people == {f"MX-{n}" for n in range(1, 7)} | {"ED-MX", "AP-MX"}
    r = await world.ar_editor.post("/v1/audiences/preview", json={"rule": {"all": []}})
    assert r.json()["count"] == 7
    r = await world.mx_editor.get("/v1/reports/brand-alignment?group_by=country")
    report = r.json()
    assert [u["unit"] for u in report["units"]] == ["MX"]
    assert report["total"]["reach"]["recipients"] == 8
    r = await world.mx_editor.get("/v1/messages")
    assert {m["id"] for m in r.json()["items"]} == {ids["hq_loc"], ids["mx_msg"]}
    r = await world.mx_editor.get("/v1/audiences")
    assert [a["id"] for a in r.json()["items"]] == [ids["mx_aud"]]
    assert r.json()["items"][0]["member_count"] == 8


async def test_audiences_reaching_outside_the_unit_are_refused(scene):
    world, ids = scene, scene.ids
    for body in (
        {"name": "Spain", "rule": {"attribute": "country", "op": "eq", "value": "ES"}},
        {
            "name": "Mixed",
            "rule": {"all": [{"attribute": "country", "op": "in", "value": ["MX", "AR"]}]},
        },
        {"name": "Listed", "rule": {"all": []}, "include_external_ids": ["AR-1"]},
    ):
        r = await world.mx_editor.post("/v1/audiences", json=body)
        assert_problem(r, 403, detail_contains="country=MX")
        r = await world.mx_editor.post(
            "/v1/audiences/preview",
            json={k: v for k, v in body.items() if k != "name"},
        )
        assert_problem(r, 403, detail_contains="country=MX")
    r = await world.mx_editor.patch(
        f"/v1/audiences/{ids['mx_aud']}",
        json={"rule": {"attribute": "country", "op": "eq", "value": "AR"}},
    )
    assert_problem(r, 403, detail_contains="country=MX")
    # a rule inside is ANDed with the unit: `not MX` reaches nobody, not the rest of the world
    r = await world.mx_editor.post(
        "/v1/audiences",
        json={
            "name": "Not MX",
            "rule": {"not": {"attribute": "country", "op": "eq", "value": "MX"}},
            "exclude_external_ids": ["MX-3"],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["member_count"] == 0
    # a message to HQ's audience, or another unit's
    for audience in (ids["everyone"], ids["ar_aud"]):
        r = await world.mx_editor.post(
            "/v1/messages",
            json={"category": "news", "title": "x", "audience_ids": [audience]},
        )
        assert_problem(r, 403, detail_contains="country=MX")
    draft = await world.message(world.mx_editor, ids["mx_aud"])
    r = await world.mx_editor.patch(
        f"/v1/messages/{draft}", json={"audience_ids": [ids["everyone"]]}
    )
    assert_problem(r, 403, detail_contains="country=MX")
    r = await world.mx_editor.get(f"/v1/messages/{draft}")
    assert r.json()["unit"] == "country=MX"
    assert r.json()["audience_ids"] == [ids["mx_aud"]]
