"""The rules of a comprehension check, on the quiz as a message stores it (its JSON): which
translations are complete, what an employee is shown, how an attempt scores.

`view` is the one function that turns a stored quiz into what an employee may see: it copies
question and option texts by name and nothing else, so a right answer cannot reach an
employee-visible body through it.
"""

from collections.abc import Mapping
from typing import Any

from app.core.errors import field_error
from app.core.hashing import canonical_sha256


def quiz_translation_errors(
    quiz: Mapping[str, Any] | None, translations: Mapping[str, Any]
) -> list[dict[str, str]]:
    """422 details for translations whose quiz does not match the message's quiz exactly
    (every question and option, no others), or that carry one while the message has none."""
    errors = []
    for locale, content in translations.items():
        translated = (content or {}).get("quiz")
        if translated is None:
            continue
        where = f"body.translations.{locale}.quiz"
        if quiz is None:
            errors.append(field_error(where, "the message has no quiz to translate"))
            continue
        questions = {q["id"]: q for q in quiz["questions"]}
        given = translated.get("questions") or {}
        missing = [qid for qid in questions if qid not in given]
        extra = [qid for qid in given if qid not in questions]
        if missing or extra:
            errors.append(
                field_error(
                    f"{where}.questions",
                    "must translate exactly the quiz's questions"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; unknown: {', '.join(extra)}" if extra else ""),
                )
            )
            continue
        for qid, question in questions.items():
            options = {o["id"] for o in question["options"]}
            if set(given[qid].get("options") or {}) != options:
                errors.append(
                    field_error(
                        f"{where}.questions.{qid}.options",
                        f"must translate exactly the options {', '.join(sorted(options))}",
                    )
                )
    return errors


def served_locale(quiz_locale: str, translations: Mapping[str, Any], served: str) -> str:
    """The quiz is shown in the served locale when that translation carries it, else in the
    message's own locale."""
    if served != quiz_locale and ((translations.get(served) or {}).get("quiz")) is not None:
        return served
    return quiz_locale


def view(
    quiz: Mapping[str, Any],
    *,
    own_locale: str,
    translations: Mapping[str, Any],
    served: str,
    standing: tuple[int, bool],
) -> dict[str, Any]:
    """What an employee gets of a quiz (the shape of `QuizView`): texts, never answers."""
    locale = served_locale(own_locale, translations, served)
    texts = (translations.get(locale) or {}).get("quiz") if locale != own_locale else None
    questions = []
    for question in quiz["questions"]:
        translated = (texts or {}).get("questions", {}).get(question["id"])
        questions.append(
            {
                "id": question["id"],
                "kind": question["kind"],
                "text": translated["text"] if translated else question["text"],
                "options": [
                    {
                        "id": option["id"],
                        "text": translated["options"][option["id"]]
                        if translated
                        else option["text"],
                    }
                    for option in question["options"]
                ],
            }
        )
    attempts, passed = standing
    limit = quiz.get("max_attempts")
    return {
        "locale": locale,
        "questions": questions,
        "pass_mark": quiz["pass_mark"],
        "max_attempts": limit,
        "attempts": attempts,
        "attempts_left": None if limit is None else max(limit - attempts, 0),
        "passed": passed,
    }


def answer_errors(
    quiz: Mapping[str, Any], answers: Mapping[str, list[str]]
) -> list[dict[str, str]]:
    """422 details for an attempt that does not answer every question with its own options.
    They name ids only: nothing in them says which option is right."""
    errors = []
    questions = {q["id"]: q for q in quiz["questions"]}
    for qid in answers:
        if qid not in questions:
            errors.append(field_error(f"body.answers.{qid}", "is not a question of this quiz"))
    missing = [qid for qid in questions if qid not in answers]
    if missing:
        errors.append(
            field_error(
                "body.answers", f"must answer every question; missing: {', '.join(missing)}"
            )
        )
    for qid, chosen in answers.items():
        question = questions.get(qid)
        if question is None:
            continue
        options = {o["id"] for o in question["options"]}
        for position, option in enumerate(chosen):
            if option not in options:
                errors.append(
                    field_error(
                        f"body.answers.{qid}[{position}]", "is not an option of this question"
                    )
                )
        if len(set(chosen)) != len(chosen):
            errors.append(field_error(f"body.answers.{qid}", "names an option more than once"))
        if question["kind"] == "single" and len(chosen) != 1:
            errors.append(field_error(f"body.answers.{qid}", "choose exactly one option"))
    return errors


def score(quiz: Mapping[str, Any], answers: Mapping[str, list[str]]) -> dict[str, bool]:
    """Question id -> answered right (exactly the right options chosen)."""
    return {
        question["id"]: set(answers[question["id"]])
        == {o["id"] for o in question["options"] if o["correct"]}
        for question in quiz["questions"]
    }


def passes(quiz: Mapping[str, Any], correct: int, total: int) -> bool:
    # compared as integers scaled by 10^6: 0.8 of 5 questions is 4, not 3.9999
    return correct * 1_000_000 >= round(float(quiz["pass_mark"]) * 1_000_000) * total


def sha256(quiz: Mapping[str, Any]) -> str:
    """The quiz's evidence hash (canonical JSON, as for content)."""
    return canonical_sha256(dict(quiz))
