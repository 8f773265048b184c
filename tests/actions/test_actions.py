"""Actions ("you said, we did"): lifecycle, links, events, and who sees them."""

import uuid

from sqlalchemy import select

from app.feedback.models import Comment
from app.webhooks.models import OutboxEvent

SALES = {"kind": "department", "value": "Sales"}


async def _events(db, prefix: str = "action.") -> list[OutboxEvent]:
    async with db() as s:
        rows = (await s.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars().all()
    return [e for e in rows if e.type.startswith(prefix)]


async def _question(as_employee, who: str, message_id: str, body: str = "Why?", **extra) -> str:
    r = await as_employee(who).post(
        f"/v1/me/messages/{message_id}/comments",
        json={"kind": "question", "body": body, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_an_action_moves_planned_in_progress_done(people, as_employee, published, admin, db):
    await people("E-1")
    message_id = await published(pulse_question="Clear?")
    comment_id = await _question(as_employee, "E-1", message_id)
    r = await admin.post(
        "/v1/actions",
        json={
            "title": "Explain the gift limit",
            "description": "A one-page FAQ.",
            "owner_unit": SALES,
            "links": [
                {"kind": "comment", "comment_id": comment_id},
                {"kind": "comment", "comment_id": comment_id},  # kept once
                {"kind": "pulse", "message_id": message_id},
                {"kind": "unit", "unit": {"kind": "country", "value": "ES"}},
            ],
        },
    )
    assert r.status_code == 201, r.text
    action = r.json()
    assert r.headers["location"] == f"/v1/actions/{action['id']}"
    assert r.headers["etag"] == action["etag"]
    assert action["status"] == "planned" and action["closed_at"] is None
    links = {
        (link["kind"], link["comment_id"], link["message_id"], str(link["unit"]))
        for link in action["links"]
    }
    assert links == {
        ("comment", comment_id, message_id, "None"),
        ("pulse", None, message_id, "None"),
        ("unit", None, None, str({"kind": "country", "value": "ES"})),
    }
    assert [(u["status"], u["previous_status"], u["text"]) for u in action["updates"]] == [
        ("planned", None, None)
    ]
    url = f"/v1/actions/{action['id']}"

    r = await admin.post(
        f"{url}/updates",
        json={"status": "in_progress", "text": "Drafting"},
        headers={"If-Match": '"stale"'},
    )
    assert r.status_code == 412
    r = await admin.post(
        f"{url}/updates",
        json={"status": "in_progress", "text": "Drafting"},
        headers={"If-Match": action["etag"]},
    )
    assert r.status_code == 200, r.text
    r = await admin.post(f"{url}/updates", json={"text": "Legal reviewed it"})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    r = await admin.post(f"{url}/updates", json={"status": "done", "text": "Published the FAQ"})
    done = r.json()
    assert done["status"] == "done" and done["closed_at"] is not None
    assert [(u["status"], u["previous_status"], u["text"]) for u in done["updates"]] == [
        ("planned", None, None),
        ("in_progress", "planned", "Drafting"),
        ("in_progress", None, "Legal reviewed it"),
        ("done", "in_progress", "Published the FAQ"),
    ]
    r = await admin.post(f"{url}/updates", json={"status": "declined", "reason": "x"})
    assert r.status_code == 409 and "final" in r.json()["detail"]
    r = await admin.post(f"{url}/updates", json={"status": "planned"})
    assert r.status_code == 409

    events = await _events(db)
    assert [(e.type, e.data.get("change"), e.data["status"]) for e in events] == [
        ("action.created", None, "planned"),
        ("action.updated", "status", "in_progress"),
        ("action.updated", "update", "in_progress"),
        ("action.updated", "status", "done"),
    ]
    assert events[3].data["previous_status"] == "in_progress"
    assert events[3].data["url"] == url

    r = await admin.get("/v1/actions", params={"message_id": message_id})
    assert [a["id"] for a in r.json()["items"]] == [action["id"]]
    r = await admin.get("/v1/actions", params={"status": "planned"})
    assert r.json()["items"] == []


async def test_declining_needs_a_reason(admin, db):
    r = await admin.post("/v1/actions", json={"title": "Four-day week", "owner_unit": SALES})
    url = f"/v1/actions/{r.json()['id']}"
    r = await admin.post(f"{url}/updates", json={"status": "declined"})
    assert r.status_code == 422 and "reason" in r.text
    r = await admin.post(f"{url}/updates", json={"status": "done", "reason": "no"})
    assert r.status_code == 422
    r = await admin.post(f"{url}/updates", json={})
    assert r.status_code == 422
    r = await admin.post(
        f"{url}/updates", json={"status": "declined", "reason": "Not possible this year."}
    )
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["decline_reason"]) == (
        "declined",
        "Not possible this year.",
    )
    [*_, event] = await _events(db)
    assert event.data["decline_reason"] == "Not possible this year."


async def test_links_must_name_something(published, admin):
    message_id = await published()  # no pulse question
    cases = [
        ([{"kind": "comment", "comment_id": str(uuid.uuid4())}], "body.links[0].comment_id"),
        ([{"kind": "pulse", "message_id": message_id}], "body.links[0].message_id"),
        ([{"kind": "pulse", "message_id": str(uuid.uuid4())}], "body.links[0].message_id"),
    ]
    for links, loc in cases:
        r = await admin.post(
            "/v1/actions", json={"title": "T", "owner_unit": SALES, "links": links}
        )
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["errors"]] == [loc]
    for link in (
        {"kind": "comment"},
        {"kind": "unit", "unit": SALES, "message_id": message_id},
        {"kind": "unit", "unit": {"kind": "shoe_size", "value": "42"}},
    ):
        r = await admin.post(
            "/v1/actions", json={"title": "T", "owner_unit": SALES, "links": [link]}
        )
        assert r.status_code == 422, r.text
    r = await admin.post("/v1/actions", json={"title": "T", "owner_unit": SALES, "owner": "me"})
    assert r.status_code == 422


async def test_editing_linking_and_scopes(client_for, admin, published, people, as_employee):
    await people("E-1")
    message_id = await published(pulse_question="Clear?")
    r = await admin.post("/v1/actions", json={"title": "T", "owner_unit": SALES})
    action = r.json()
    url = f"/v1/actions/{action['id']}"
    r = await admin.patch(url, json={"title": "Better title"}, headers={"If-Match": action["etag"]})
    assert r.status_code == 200 and r.json()["title"] == "Better title"
    r = await admin.patch(url, json={"title": "Again"}, headers={"If-Match": action["etag"]})
    assert r.status_code == 412
    r = await admin.patch(url, json={"title": None})
    assert r.status_code == 422
    r = await admin.post(
        f"{url}/links", json={"links": [{"kind": "pulse", "message_id": message_id}]}
    )
    assert r.status_code == 200 and len(r.json()["links"]) == 1
    link_id = r.json()["links"][0]["id"]
    r = await admin.delete(f"{url}/links/{link_id}")
    assert r.status_code == 204
    r = await admin.delete(f"{url}/links/{link_id}")
    assert r.status_code == 404
    assert (await admin.get(url)).json()["links"] == []
    assert (await admin.get(f"/v1/actions/{uuid.uuid4()}")).status_code == 404

    reader = await client_for("messages:read")
    assert (
        await reader.post("/v1/actions", json={"title": "T", "owner_unit": SALES})
    ).status_code == 403
    assert (await reader.get("/v1/actions")).status_code == 403
    receipts = await client_for("receipts:read")
    assert (await receipts.get(url)).status_code == 200
    assert (await receipts.post(f"{url}/updates", json={"text": "x"})).status_code == 403
    employee = as_employee("E-1")
    assert (await employee.get("/v1/actions")).status_code == 403
    assert (await admin.get("/v1/me/actions")).status_code == 403


async def test_employees_see_only_the_actions_about_what_they_said(
    people, as_employee, published, admin
):
    await people("E-ANA", "E-BEN", department="Ops")
    await people("E-CARA", department="Sales")
    await people("E-DAN", department="Ops")
    message_id = await published(pulse_question="Clear?")
    other_id = await published(pulse_question="And this?")
    ana_q = await _question(as_employee, "E-ANA", message_id, "Ana asks")
    ben_q = await _question(as_employee, "E-BEN", message_id, "Ben asks")
    r = await as_employee("E-BEN").put(f"/v1/me/messages/{other_id}/pulse", json={"score": 2})
    assert r.status_code == 200

    async def create(title: str, *links) -> str:
        r = await admin.post(
            "/v1/actions", json={"title": title, "owner_unit": SALES, "links": list(links)}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    about_questions = await create(
        "Answer both",
        {"kind": "comment", "comment_id": ana_q},
        {"kind": "comment", "comment_id": ben_q},
    )
    about_pulse = await create("Pulse follow-up", {"kind": "pulse", "message_id": other_id})
    about_sales = await create("Sales clinic", {"kind": "unit", "unit": SALES})
    await admin.post(
        f"/v1/actions/{about_pulse}/updates", json={"status": "in_progress", "text": "On it"}
    )

    async def mine(who: str) -> dict[str, list]:
        r = await as_employee(who).get("/v1/me/actions")
        assert r.status_code == 200, r.text
        return {a["id"]: a["about"] for a in r.json()["items"]}

    ana = await mine("E-ANA")
    assert ana == {
        about_questions: [
            {"kind": "comment", "message_id": message_id, "comment_id": ana_q, "unit": None}
        ]
    }  # Ben's question on the same action is not hers to see
    ben = await mine("E-BEN")
    assert list(ben) == [about_pulse, about_questions]  # most recently changed first
    assert ben[about_questions][0]["comment_id"] == ben_q
    assert await mine("E-CARA") == {
        about_sales: [{"kind": "unit", "message_id": None, "comment_id": None, "unit": SALES}]
    }
    assert await mine("E-DAN") == {}

    r = await as_employee("E-BEN").get("/v1/me/actions")
    step = r.json()["items"][0]
    assert step["status"] == "in_progress"
    assert [(u["status"], u["text"]) for u in step["updates"]] == [
        ("planned", None),
        ("in_progress", "On it"),
    ]
    assert "links" not in step and "created_by" not in step

    # on the message itself
    r = await as_employee("E-ANA").get(f"/v1/me/messages/{message_id}/actions")
    assert [a["id"] for a in r.json()] == [about_questions]
    r = await as_employee("E-DAN").get(f"/v1/me/messages/{message_id}/actions")
    assert r.status_code == 200 and r.json() == []
    r = await as_employee("E-BEN").get(f"/v1/me/messages/{other_id}/actions")
    assert [a["id"] for a in r.json()] == [about_pulse]
    await people("E-LATE")
    r = await as_employee("E-LATE").get(f"/v1/me/messages/{message_id}/actions")
    assert r.status_code == 404


async def test_my_actions_page_and_named_comments_keep_no_secret(
    people, as_employee, published, admin, db
):
    await people("E-1")
    message_id = await published(pulse_question="Clear?")
    r = await as_employee("E-1").post(
        f"/v1/me/messages/{message_id}/comments",
        json={"body": "Named", "author_secret": "x" * 40},
    )
    assert r.status_code == 201
    comment_id = r.json()["id"]
    ids = []
    for title in ("First", "Second", "Third"):
        r = await admin.post(
            "/v1/actions",
            json={
                "title": title,
                "owner_unit": SALES,
                "links": [{"kind": "comment", "comment_id": comment_id}],
            },
        )
        ids.append(r.json()["id"])
    me = as_employee("E-1")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await me.get("/v1/me/actions", params=params)
        assert r.status_code == 200, r.text
        seen += [a["id"] for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert (await me.get("/v1/me/actions", params={"limit": 201})).status_code == 422
    async with db() as s:
        stored = (await s.execute(select(Comment.author_secret_sha256))).scalars().all()
    assert stored == [None]  # a named comment needs no secret: its author is known
