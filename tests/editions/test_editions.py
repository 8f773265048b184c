"""Local editions: locked fields, who writes them, review and four eyes, what MX and ES
employees are served (feed, single view, acknowledgement evidence, preview), outdated editions
after an HQ change."""

import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.database import utcnow
from app.messages.service import publish_due
from app.receipts.models import Acknowledgement, Recipient
from app.webhooks.models import OutboxEvent
from tests.messages.helpers import assert_problem

FEED = "/v1/me/messages"
MX = "country=MX"


def sha(shown: dict) -> str:
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def policy(world):
    """An HQ policy, localizable with its binding body and statement locked, published after
    an approver's sign-off; in English with a Spanish translation."""
    message_id = await world.message(
        world.hq,
        world.ids["everyone"],
        category="policy",
        title="Travel policy",
        summary="How we travel",
        body="Binding text.",
        translations={"es": {"title": "Política de viajes", "body": "Texto vinculante."}},
        localizable=True,
        locked=["body", "acknowledgement_text"],
        requires_acknowledgement=True,
        acknowledgement_text="I have read it.",
    )
    # policies need a sign-off (BRANDCAST_REVIEW_REQUIRED)
    assert_problem(await world.hq.post(f"/v1/messages/{message_id}/publish"), 409)
    assert (await world.hq.post(f"/v1/messages/{message_id}/submit")).status_code == 200
    # four eyes: the token that wrote and submitted it cannot approve it
    assert_problem(
        await world.hq.post(f"/v1/messages/{message_id}/approve"), 403, detail_contains="four"
    )
    # a unit's approver cannot sign off HQ's text
    assert_problem(await world.mx_approver.post(f"/v1/messages/{message_id}/approve"), 403)
    hq_approver = world.clients["hq_approver"] = await world.make_hq_approver()
    r = await hq_approver.post(f"/v1/messages/{message_id}/approve", json={"comment": "ok"})
    assert r.status_code == 200, r.text
    assert r.json()["review_status"] == "approved"
    await world.publish(world.hq, message_id)
    return message_id


async def _adapt(world, message_id: str, **fields) -> dict:
    body = {
        "locale": "es-MX",
        "title": "Política de viajes (México)",
        "summary": "Cómo viajamos en México",
        "local_note": "Dudas: viajes@mx.example.com",
        "translations": {"en": {"title": "Travel policy (Mexico)"}},
        **fields,
    }
    r = await world.mx_editor.put(f"/v1/messages/{message_id}/editions/{MX}", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def _sign_off(world, message_id: str) -> None:
    path = f"/v1/messages/{message_id}/editions/{MX}"
    assert (await world.mx_editor.post(f"{path}/submit")).status_code == 200
    assert_problem(await world.mx_editor.post(f"{path}/approve"), 403)  # no approver role
    assert_problem(await world.ar_approver.post(f"{path}/approve"), 404)  # not its unit
    r = await world.mx_approver.post(f"{path}/approve")
    assert r.status_code == 200, r.text
    r = await world.mx_editor.post(f"{path}/publish")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"


async def test_locked_fields_and_who_may_write(world, policy):
    path = f"/v1/messages/{policy}/editions/{MX}"
    r = await world.mx_editor.put(
        path,
        json={
            "locale": "es-MX",
            "body": "Otro texto.",
            "translations": {"en": {"acknowledgement_text": "Other"}},
        },
    )
    problem = assert_problem(r, 422)
    assert {e["loc"] for e in problem["errors"]} == {
        "body.body",
        "body.translations.en.acknowledgement_text",
    }
    assert_problem(
        await world.ar_editor.put(path, json={"locale": "es", "title": "x"}),
        403,
        detail_contains="country=AR",
    )
    assert_problem(await world.mx_approver.put(path, json={"locale": "es", "title": "x"}), 403)
    assert_problem(await world.employee.put(path, json={"locale": "es", "title": "x"}), 403)
    assert_problem(await world.mx_editor.put(path, json={"locale": "es", "extra": 1}), 422)
    assert_problem(
        await world.mx_editor.put(
            f"/v1/messages/{policy}/editions/planet=Mars", json={"locale": "es"}
        ),
        422,
    )
    created = await _adapt(world, policy)
    assert created["status"] == "draft" and created["review_status"] == "draft"
    # not localizable, and a unit's own message: 409
    plain = await world.message(world.hq, world.ids["everyone"])
    assert_problem(
        await world.mx_editor.put(f"/v1/messages/{plain}/editions/{MX}", json={"locale": "es"}), 404
    )
    assert_problem(
        await world.hq.put(f"/v1/messages/{plain}/editions/{MX}", json={"locale": "es"}), 409
    )
    # the AR editor sees no MX edition
    r = await world.ar_editor.get(f"/v1/messages/{policy}/editions")
    assert r.json() == []
    assert_problem(await world.ar_editor.get(path), 404)
    # publishing before review
    assert_problem(await world.mx_editor.post(f"{path}/publish"), 409)


async def test_mx_served_the_edition_es_served_hq(world, policy, db):
    await _adapt(world, policy)
    before = await world.employee.get(f"{FEED}/{policy}")
    assert before.json()["edition"] is None  # not published yet
    await _sign_off(world, policy)

    mx = (await world.employee.get(f"{FEED}/{policy}")).json()
    assert (mx["edition"], mx["locale"], mx["title"], mx["summary"]) == (
        MX,
        "es-MX",
        "Política de viajes (México)",
        "Cómo viajamos en México",
    )
    # HQ's locked text stays HQ's, in the edition's language as far as HQ has it
    assert mx["body"] == "Texto vinculante."
    assert mx["acknowledgement_text"] == "I have read it."
    assert mx["local_note"] == "Dudas: viajes@mx.example.com"
    # locale negotiation inside the edition
    en = (await world.employee.get(f"{FEED}/{policy}", headers={"Accept-Language": "en"})).json()
    assert (en["edition"], en["locale"], en["title"], en["body"]) == (
        MX,
        "en",
        "Travel policy (Mexico)",
        "Binding text.",
    )
    listed = (await world.employee.get(FEED)).json()["items"]
    assert [i["title"] for i in listed if i["id"] == policy] == ["Política de viajes (México)"]

    es = (await world.hq.get(f"{FEED}/{policy}", headers=world.as_employee("ES-1"))).json()
    assert (es["edition"], es["locale"], es["title"], es["local_note"]) == (
        None,
        "es",
        "Política de viajes",
        None,
    )

    # evidence: the edition and the hash of what was shown
    r = await world.employee.post(f"{FEED}/{policy}/acknowledgement")
    assert r.status_code == 201, r.text
    ack = r.json()
    edition_id = (await world.hq.get(f"/v1/messages/{policy}/editions/{MX}")).json()["id"]
    assert ack["edition_id"] == edition_id
    assert ack["statement"] == "I have read it."
    assert ack["content_sha256"] == sha(
        {
            "body": "Texto vinculante.",
            "locale": "es-MX",
            "title": "Política de viajes (México)",
            "edition": MX,
            "local_note": "Dudas: viajes@mx.example.com",
        }
    )
    r = await world.hq.post(f"{FEED}/{policy}/acknowledgement", headers=world.as_employee("ES-1"))
    assert r.json()["edition_id"] is None
    assert r.json()["content_sha256"] == sha(
        {"body": "Texto vinculante.", "locale": "es", "title": "Política de viajes"}
    )
    async with db() as s:
        rows = (
            (
                await s.execute(
                    select(Acknowledgement.edition_id).where(
                        Acknowledgement.message_id == uuid.UUID(policy)
                    )
                )
            )
            .scalars()
            .all()
        )
        assert sorted(str(x) for x in rows) == sorted([edition_id, "None"])
        served = (
            (
                await s.execute(
                    select(Recipient.edition_id).where(
                        Recipient.message_id == uuid.UUID(policy), Recipient.edition_id.is_not(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        assert len(served) == 8  # the MX recipients

    # preview: what MX-2 and ES-2 would be served, recording nothing
    r = await world.mx_editor.get(f"/v1/messages/{policy}/preview?employee=MX-2")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert (preview["edition"], preview["locale"], preview["title"], preview["recipient"]) == (
        MX,
        "es-MX",
        "Política de viajes (México)",
        True,
    )
    assert preview["channels"] == ["feed"]
    assert_problem(await world.mx_editor.get(f"/v1/messages/{policy}/preview?employee=ES-2"), 404)
    r = await world.hq.get(f"/v1/messages/{policy}/preview?employee=ES-2")
    assert r.json()["edition"] is None
    recipients = (await world.hq.get(f"/v1/messages/{policy}/recipients?state=read")).json()
    assert {i["external_id"] for i in recipients["items"]} == {"MX-1", "ES-1"}


async def test_a_new_hq_version_outdates_the_edition(world, policy):
    await _adapt(world, policy)
    await _sign_off(world, policy)
    r = await world.hq.patch(f"/v1/messages/{policy}", json={"summary": "How we travel now"})
    assert r.status_code == 200 and r.json()["version"] == 2
    edition = (await world.mx_editor.get(f"/v1/messages/{policy}/editions/{MX}")).json()
    assert edition["outdated"] is True and edition["based_on_version"] == 1
    # HQ's text meanwhile
    served = (await world.employee.get(f"{FEED}/{policy}")).json()
    assert (served["edition"], served["title"]) == (None, "Política de viajes")
    r = await world.mx_editor.post(f"/v1/messages/{policy}/editions/{MX}/confirm")
    assert r.status_code == 200, r.text
    assert (r.json()["outdated"], r.json()["based_on_version"]) == (False, 2)
    served = (await world.employee.get(f"{FEED}/{policy}")).json()
    assert served["edition"] == MX
    assert_problem(await world.mx_editor.post(f"/v1/messages/{policy}/editions/{MX}/confirm"), 409)


async def test_an_edit_after_approval_goes_back_to_review(world, policy, db):
    await _adapt(world, policy)
    await _sign_off(world, policy)
    edition = await _adapt(world, policy, title="Nueva versión")
    assert (edition["status"], edition["review_status"]) == ("draft", "in_review")
    served = (await world.employee.get(f"{FEED}/{policy}")).json()
    assert served["edition"] is None  # not approved again yet
    path = f"/v1/messages/{policy}/editions/{MX}"
    r = await world.mx_approver.post(f"{path}/request-changes", json={"comment": "Más corto"})
    assert r.status_code == 200
    assert (r.json()["review_status"], r.json()["review_comment"]) == (
        "changes_requested",
        "Más corto",
    )
    assert_problem(await world.mx_approver.post(f"{path}/request-changes", json={}), 422)
    async with db() as s:
        events = (await s.execute(select(OutboxEvent.type, OutboxEvent.data))).all()
        types = [t for t, data in events if data.get("message_id") == policy]
    assert types.count("message.review_requested") == 2  # the message, then the edition
    assert types.count("message.approved") == 2


async def test_review_of_a_unit_message(world):
    aud = (
        await world.mx_editor.post("/v1/audiences", json={"name": "MX", "rule": {"all": []}})
    ).json()["id"]
    message_id = await world.message(
        world.mx_editor, aud, category="brand_promise", title="Promesa"
    )
    path = f"/v1/messages/{message_id}"
    assert_problem(await world.mx_editor.post(f"{path}/publish"), 409, detail_contains="approver")
    assert (await world.mx_editor.post(f"{path}/submit")).status_code == 200
    assert_problem(await world.mx_editor.post(f"{path}/submit"), 409)
    assert_problem(await world.ar_approver.post(f"{path}/approve"), 404)
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    # an edit after approval needs another sign-off
    r = await world.mx_editor.patch(path, json={"title": "Nuestra promesa"})
    assert r.json()["review_status"] == "in_review"
    assert_problem(await world.mx_editor.post(f"{path}/publish"), 409)
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    r = await world.mx_editor.post(f"{path}/publish")
    assert r.status_code == 200, r.text
    assert r.json()["recipient_count"] == 8


async def test_late_joiners_get_their_units_edition_and_unit_audience(world, policy):
    await _adapt(world, policy)
    await _sign_off(world, policy)
    aud = (
        await world.mx_editor.post("/v1/audiences", json={"name": "MX", "rule": {"all": []}})
    ).json()["id"]
    local = await world.message(world.mx_editor, aud, title="Solo México")
    await world.publish(world.mx_editor, local)
    for external_id, country in (("MX-NEW", "MX"), ("ES-NEW", "ES")):
        r = await world.hq.put(
            f"/v1/employees/{external_id}",
            json={"email": f"{external_id.lower()}@example.com", "country": country},
        )
        assert r.status_code == 201, r.text
    mx_new = world.as_employee("MX-NEW")
    served = (await world.hq.get(f"{FEED}/{policy}", headers=mx_new)).json()
    assert served["edition"] == MX
    assert (await world.hq.get(f"{FEED}/{local}", headers=mx_new)).status_code == 200
    es_new = world.as_employee("ES-NEW")
    assert (await world.hq.get(f"{FEED}/{policy}", headers=es_new)).json()["edition"] is None
    # a unit's audience never takes in people outside the unit
    assert (await world.hq.get(f"{FEED}/{local}", headers=es_new)).status_code == 404


async def test_hq_text_against_the_edition_in_stats_and_brand_alignment(world, settings):
    message_id = await world.message(
        world.hq,
        world.ids["everyone"],
        category="values",
        title="Our values",
        translations={"es": {"title": "Nuestros valores"}},
        localizable=True,
        requires_acknowledgement=True,
        acknowledgement_text="Understood.",
        pulse_question="Do you live them?",
    )
    await _adapt(world, message_id, title="Nuestros valores en México")
    await _sign_off(world, message_id)
    await world.publish(world.hq, message_id)
    for who in ("MX-1", "MX-2", "MX-3", "ES-1"):
        r = await world.hq.post(
            f"{FEED}/{message_id}/acknowledgement", headers=world.as_employee(who)
        )
        assert r.status_code == 201, r.text
    for who, score in (("MX-1", 5), ("MX-2", 4), ("MX-3", 5), ("MX-4", 4), ("MX-5", 5)):
        r = await world.hq.put(
            f"{FEED}/{message_id}/pulse", json={"score": score}, headers=world.as_employee(who)
        )
        assert r.status_code in (200, 201), r.text

    r = await world.hq.get(f"/v1/messages/{message_id}/stats?group_by=edition")
    assert r.status_code == 200, r.text
    groups = {g["key"]: g for g in r.json()["groups"]}
    assert set(groups) == {"HQ", MX}
    assert (groups[MX]["recipients"], groups[MX]["acknowledged"]) == (8, 3)
    assert (groups["HQ"]["recipients"], groups["HQ"]["acknowledged"]) == (12, 1)
    # the MX editor sees its edition only
    r = await world.mx_editor.get(f"/v1/messages/{message_id}/stats?group_by=edition")
    assert [g["key"] for g in r.json()["groups"]] == [MX]

    r = await world.hq.get("/v1/reports/brand-alignment?group_by=edition")
    assert r.status_code == 200, r.text
    units = {u["unit"]: u for u in r.json()["units"]}
    assert set(units) == {"HQ", MX}
    assert units[MX]["reach"]["recipients"] == 8
    assert units[MX]["reach"]["acknowledged"] == 3
    assert units[MX]["pulse"]["respondents"] == 5 and units[MX]["pulse"]["mean"] == 4.6
    # fewer than five answers: no pulse for HQ's text (the minimum-group rule)
    assert units["HQ"]["reach"]["recipients"] == 12 and units["HQ"]["pulse"] is None
    assert_problem(await world.hq.get(f"/v1/messages/{message_id}/feedback?group_by=edition"), 422)


async def test_whoever_edits_a_text_in_review_cannot_approve_it(world, client_for):
    from app.core.principal import Scope

    message_id = await world.message(world.hq, world.ids["everyone"], category="policy")
    path = f"/v1/messages/{message_id}"
    assert (await world.hq.post(f"{path}/submit")).status_code == 200
    other = await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)
    r = await other.patch(path, json={"title": "Edited while in review"})
    assert r.json()["review_status"] == "in_review"
    assert_problem(await other.post(f"{path}/approve"), 403, detail_contains="four")
    third = await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)
    r = await third.post(f"{path}/request-changes", json={"comment": "Shorter, please"})
    assert r.json()["review_status"] == "changes_requested"
    assert_problem(await third.post(f"{path}/approve"), 409)
    assert (await other.post(f"{path}/submit")).status_code == 200
    assert (await third.post(f"{path}/approve")).status_code == 200
    assert (await world.hq.post(f"{path}/publish")).status_code == 200


async def test_a_scheduled_message_edited_after_approval_waits_for_a_new_sign_off(world, app):
    aud = (
        await world.mx_editor.post("/v1/audiences", json={"name": "MX", "rule": {"all": []}})
    ).json()["id"]
    message_id = await world.message(
        world.mx_editor, aud, category="brand_promise", title="Promesa"
    )
    path = f"/v1/messages/{message_id}"
    assert (await world.mx_editor.post(f"{path}/submit")).status_code == 200
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    at = (utcnow() + timedelta(hours=1)).isoformat()
    r = await world.mx_editor.post(f"{path}/publish", json={"publish_at": at})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled"
    # the text changes after the sign-off: it is not what was approved, so it does not go out
    r = await world.mx_editor.patch(path, json={"title": "Nuestra promesa"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["review_status"]) == ("draft", "in_review")
    async with app.state.db.session_scope() as s:
        assert await publish_due(s, now=utcnow() + timedelta(hours=2)) == []
    assert (await world.mx_editor.get(path)).json()["recipient_count"] == 0
    # signed off again, it is scheduled again
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    r = await world.mx_editor.post(f"{path}/publish", json={"publish_at": at})
    assert r.json()["status"] == "scheduled"
    async with app.state.db.session_scope() as s:
        assert await publish_due(s, now=utcnow() + timedelta(hours=2)) == [uuid.UUID(message_id)]
