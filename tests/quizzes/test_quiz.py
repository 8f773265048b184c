"""Comprehension checks from the employee's side: questions without answers, attempts, the
acknowledgement gate and its evidence, attempt limits, locales and new versions."""

import asyncio
import json
import uuid

from sqlalchemy import select

from app.quizzes.models import QuizAnswer, QuizAttempt
from app.receipts.models import Acknowledgement
from app.webhooks.models import OutboxEvent
from tests.quizzes.conftest import HALF, QUIZ, RIGHT, WRONG

FEED = "/v1/me/messages"
ATTEMPT_KEYS = {
    "id",
    "message_id",
    "number",
    "version",
    "locale",
    "correct",
    "total",
    "score",
    "pass_mark",
    "passed",
    "wrong_question_ids",
    "attempts_left",
    "attempted_at",
}


def _no_answers(text: str) -> None:
    """No employee-visible body may say which option is right: no option-level `correct`
    flag, nor any other field naming right options."""
    compact = text.replace(" ", "")
    assert '"correct":true' not in compact and '"correct":false' not in compact, text
    for word in ("right_option", "correct_option", "solution", "expected"):
        assert word not in text, text


async def test_employees_get_the_questions_without_the_answers(people, as_employee, policy):
    await people("E-1")
    message_id = await policy()
    me = as_employee("E-1")
    expected_en = {
        "locale": "en",
        "questions": [
            {
                "id": "q1",
                "kind": "single",
                "text": "Who may accept gifts?",
                "options": [
                    {"id": "a", "text": "Nobody"},
                    {"id": "b", "text": "Managers"},
                    {"id": "c", "text": "Everyone"},
                ],
            },
            {
                "id": "q2",
                "kind": "multiple",
                "text": "Which must be reported?",
                "options": [
                    {"id": "a", "text": "Gifts over 50 EUR"},
                    {"id": "b", "text": "Invitations to dinner"},
                    {"id": "c", "text": "A coffee"},
                ],
            },
        ],
        "pass_mark": 1.0,
        "max_attempts": None,
        "attempts": 0,
        "attempts_left": None,
        "passed": False,
    }
    for path, params in (
        (FEED, {}),
        (FEED, {"include": "body"}),
        (FEED, {"state": "unacknowledged"}),
        (f"{FEED}/{message_id}", {}),
    ):
        r = await me.get(path, params=params)
        assert r.status_code == 200, r.text
        _no_answers(r.text)
        item = r.json()["items"][0] if path == FEED else r.json()
        assert item["quiz"] == expected_en

    r = await me.get(f"{FEED}/{message_id}", headers={"Accept-Language": "es"})
    _no_answers(r.text)
    quiz = r.json()["quiz"]
    assert r.json()["locale"] == "es" and quiz["locale"] == "es"
    assert [q["text"] for q in quiz["questions"]] == [
        "¿Quién puede aceptar regalos?",
        "¿Qué hay que declarar?",
    ]
    assert [o["text"] for o in quiz["questions"][0]["options"]] == ["Nadie", "Jefes", "Todos"]

    # a locale without the quiz translated: the quiz in the message's own locale, named so
    r = await me.get(f"{FEED}/{message_id}", headers={"Accept-Language": "fr"})
    assert r.json()["quiz"]["locale"] == "en"


async def test_acknowledgement_waits_for_a_pass_and_records_it(people, as_employee, policy, db):
    [ana] = await people("E-1")
    message_id = await policy()
    me = as_employee("E-1")

    r = await me.post(f"{FEED}/{message_id}/acknowledgement")
    assert r.status_code == 409, r.text
    assert "comprehension check" in r.json()["detail"]
    _no_answers(r.text)

    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": HALF})
    assert r.status_code == 201, r.text
    failed = r.json()
    _no_answers(r.text)
    assert set(failed) == ATTEMPT_KEYS
    assert (failed["number"], failed["correct"], failed["total"], failed["score"]) == (1, 1, 2, 0.5)
    assert failed["passed"] is False and failed["wrong_question_ids"] == ["q2"]

    r = await me.post(f"{FEED}/{message_id}/acknowledgement")
    assert r.status_code == 409

    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code == 201, r.text
    passed = r.json()
    assert (passed["number"], passed["passed"], passed["wrong_question_ids"]) == (2, True, [])

    r = await me.get(f"{FEED}/{message_id}")
    assert (r.json()["quiz"]["attempts"], r.json()["quiz"]["passed"]) == (2, True)

    r = await me.post(f"{FEED}/{message_id}/acknowledgement")
    assert r.status_code == 201, r.text
    assert r.json()["quiz_attempt_id"] == passed["id"]
    r = await me.post(f"{FEED}/{message_id}/acknowledgement")
    assert r.status_code == 200 and r.json()["quiz_attempt_id"] == passed["id"]
    r = await me.get(f"{FEED}/{message_id}/acknowledgement")
    assert r.json()["quiz_attempt_id"] == passed["id"]

    # no more attempts once passed
    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": WRONG})
    assert r.status_code == 409 and "already passed" in r.json()["detail"]

    async with db() as s:
        [ack] = (await s.execute(select(Acknowledgement))).scalars().all()
        attempts = (
            (await s.execute(select(QuizAttempt).order_by(QuizAttempt.number))).scalars().all()
        )
        answers = (await s.execute(select(QuizAnswer.question_id, QuizAnswer.correct))).all()
        [event] = (
            (
                await s.execute(
                    select(OutboxEvent).where(OutboxEvent.type == "acknowledgement.created")
                )
            )
            .scalars()
            .all()
        )
    assert str(ack.quiz_attempt_id) == passed["id"]
    assert [(a.employee_id, a.number, a.passed, a.answers) for a in attempts] == [
        (ana, 1, False, HALF),
        (ana, 2, True, RIGHT),
    ]
    assert len(attempts[0].quiz_sha256) == 64
    assert sorted(answers) == sorted([("q1", True), ("q2", False), ("q1", True), ("q2", True)])
    assert event.data["quiz_attempt_id"] == passed["id"]


async def test_attempts_are_limited(people, as_employee, policy):
    await people("E-1")
    message_id = await policy(quiz={**QUIZ, "max_attempts": 2})
    me = as_employee("E-1")
    for left in (1, 0):
        r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": WRONG})
        assert r.status_code == 201 and r.json()["attempts_left"] == left
        assert r.json()["wrong_question_ids"] == ["q1", "q2"]
    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code == 409, r.text
    assert "all 2 attempts" in r.json()["detail"]
    _no_answers(r.text)
    r = await me.get(f"{FEED}/{message_id}")
    assert r.json()["quiz"] | {"questions": None} == {
        "locale": "en",
        "questions": None,
        "pass_mark": 1.0,
        "max_attempts": 2,
        "attempts": 2,
        "attempts_left": 0,
        "passed": False,
    }
    assert (await me.post(f"{FEED}/{message_id}/acknowledgement")).status_code == 409


async def test_concurrent_attempts_never_overrun_the_limit(people, as_employee, policy, db):
    await people("E-1")
    message_id = await policy(quiz={**QUIZ, "max_attempts": 1})
    me = as_employee("E-1")
    results = await asyncio.gather(
        *(me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": WRONG}) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    async with db() as s:
        assert len((await s.execute(select(QuizAttempt.id))).all()) == 1


async def test_answers_that_do_not_fit_are_422_naming_the_field(people, as_employee, policy):
    await people("E-1")
    message_id = await policy()
    me = as_employee("E-1")
    cases = [
        ({"q1": ["a"]}, [("body.answers", "must answer every question; missing: q2")]),
        (
            {"q1": ["a", "b"], "q2": ["a"]},
            [("body.answers.q1", "choose exactly one option")],
        ),
        (
            {"q1": ["z"], "q2": ["a"], "q9": ["a"]},
            [
                ("body.answers.q9", "is not a question of this quiz"),
                ("body.answers.q1[0]", "is not an option of this question"),
            ],
        ),
        (
            {"q1": ["a"], "q2": ["b", "b"]},
            [("body.answers.q2", "names an option more than once")],
        ),
    ]
    for answers, errors in cases:
        r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": answers})
        assert r.status_code == 422, r.text
        assert [(e["loc"], e["msg"]) for e in r.json()["errors"]] == errors
        _no_answers(r.text)
    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT, "score": 1})
    assert r.status_code == 422
    r = await me.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": {}})
    assert r.status_code == 422
    # nothing was counted as an attempt
    r = await me.get(f"{FEED}/{message_id}")
    assert r.json()["quiz"]["attempts"] == 0


async def test_scores_are_the_same_in_every_locale(people, as_employee, policy):
    await people("E-1", locale="es-MX")
    await people("E-2")
    message_id = await policy(quiz={**QUIZ, "pass_mark": 0.5})
    r = await as_employee("E-1").post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": HALF})
    es = r.json()
    r = await as_employee("E-2").post(
        f"{FEED}/{message_id}/quiz-attempts",
        json={"answers": HALF},
        headers={"Accept-Language": "en"},
    )
    en = r.json()
    assert (es["locale"], en["locale"]) == ("es", "en")
    assert (es["score"], es["passed"], es["wrong_question_ids"]) == (0.5, True, ["q2"])
    assert (en["score"], en["passed"], en["wrong_question_ids"]) == (0.5, True, ["q2"])
    r = await as_employee("E-2").post(
        f"{FEED}/{message_id}/quiz-attempts", json={"answers": HALF, "locale": "es"}
    )
    assert r.status_code == 409  # passed already; the locale changes nothing of that


async def test_who_may_attempt(people, as_employee, policy, published, admin, anon):
    await people("E-1")
    message_id = await policy()
    plain = await published()
    r = await as_employee("E-1").post(f"{FEED}/{plain}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code == 409 and r.json()["detail"] == "This message has no comprehension check."
    r = await as_employee("E-NOBODY").post(
        f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT}
    )
    assert r.status_code == 401
    await people("E-LATE")  # not a recipient: added after publication, no sync ran
    r = await as_employee("E-LATE").post(
        f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT}
    )
    assert r.status_code == 404
    r = await as_employee("E-1").post(
        f"{FEED}/{uuid.uuid4()}/quiz-attempts", json={"answers": RIGHT}
    )
    assert r.status_code == 404
    r = await admin.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code == 403
    r = await anon.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code == 401
    r = await admin.post(f"/v1/messages/{message_id}/archive")
    r = await as_employee("E-1").post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.status_code in (404, 409)


async def test_a_quiz_changes_only_with_a_new_version(people, as_employee, policy, admin):
    await people("E-1", "E-2")
    message_id = await policy()
    ana, ben = as_employee("E-1"), as_employee("E-2")
    await ana.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert (await ana.post(f"{FEED}/{message_id}/acknowledgement")).status_code == 201
    await ben.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})

    # a new question without re-acknowledgement: a new version; passes and acks still count
    changed = {**QUIZ, "questions": [*QUIZ["questions"][:1], QUIZ["questions"][1] | {"id": "q3"}]}
    r = await admin.patch(
        f"/v1/messages/{message_id}",
        json={"quiz": changed, "translations": {"es": {"title": "Política de regalos"}}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["quiz"]["questions"][1]["id"] == "q3"
    assert (await ben.post(f"{FEED}/{message_id}/acknowledgement")).status_code == 201

    # with re-acknowledgement: a new round, every attempt starts again
    r = await admin.patch(
        f"/v1/messages/{message_id}",
        json={"quiz": QUIZ, "require_reacknowledgement": True},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["acknowledgement_version"]) == (3, 3)
    r = await ana.get(f"{FEED}/{message_id}")
    assert r.json()["acknowledged_at"] is None
    assert (r.json()["quiz"]["attempts"], r.json()["quiz"]["passed"]) == (0, False)
    assert (await ana.post(f"{FEED}/{message_id}/acknowledgement")).status_code == 409
    r = await ana.post(f"{FEED}/{message_id}/quiz-attempts", json={"answers": RIGHT})
    assert r.json()["number"] == 1 and r.json()["version"] == 3
    r = await ana.post(f"{FEED}/{message_id}/acknowledgement")
    assert r.status_code == 201 and r.json()["version"] == 3

    # each version keeps the quiz it was published with
    r = await admin.get(f"/v1/messages/{message_id}/versions")
    quizzes = {v["version"]: v["quiz"] for v in r.json()["items"]}
    assert [q["id"] for q in quizzes[2]["questions"]] == ["q1", "q3"]
    assert [q["id"] for q in quizzes[1]["questions"]] == ["q1", "q2"]
    assert quizzes[1]["questions"][0]["options"][0]["correct"] is True  # editors see answers


async def test_editors_get_422_for_quizzes_that_cannot_work(admin, everyone):
    base = {"category": "policy", "title": "P", "audience_ids": [everyone]}
    one = QUIZ["questions"][0]
    cases = [
        (
            {
                "quiz": {
                    **QUIZ,
                    "questions": [
                        one | {"options": [o | {"correct": True} for o in one["options"]]}
                    ],
                }
            },
            "body.quiz.questions[0]",
        ),
        ({"quiz": {**QUIZ, "pass_mark": 0}}, "body.quiz.pass_mark"),
        ({"quiz": {**QUIZ, "questions": []}}, "body.quiz.questions"),
        ({"quiz": {**QUIZ, "questions": [one | {"id": "x"}, one | {"id": "x"}]}}, "body.quiz"),
        (
            {"translations": {"es": {"title": "P", "quiz": {"questions": {}}}}},
            "body.translations.es.quiz",
        ),
        (
            {"quiz": QUIZ, "translations": {"es": {"title": "P", "quiz": {"questions": {}}}}},
            "body.translations.es.quiz.questions",
        ),
    ]
    for fields, loc in cases:
        r = await admin.post("/v1/messages", json={**base, **fields})
        assert r.status_code == 422, (fields, r.text)
        assert any(e["loc"].startswith(loc) for e in r.json()["errors"]), r.json()["errors"]
    r = await admin.post("/v1/messages", json={**base, "quiz": QUIZ})
    assert r.status_code == 201
    assert r.json()["quiz"]["questions"][1]["options"][2] == {
        "id": "c",
        "text": "A coffee",
        "correct": False,
    }
    assert json.dumps(r.json()["quiz"]).count('"correct": true') == 3
