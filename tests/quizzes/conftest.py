"""Quiz fixtures: the feedback area's employees, employee clients and published messages,
and a policy with a comprehension check."""

from typing import Any

import pytest

from tests.feedback.conftest import as_employee, everyone, people, published  # noqa: F401

QUIZ: dict[str, Any] = {
    "questions": [
        {
            "text": "Who may accept gifts?",
            "options": [
                {"text": "Nobody", "correct": True},
                {"text": "Managers"},
                {"text": "Everyone"},
            ],
        },
        {
            "kind": "multiple",
            "text": "Which must be reported?",
            "options": [
                {"text": "Gifts over 50 EUR", "correct": True},
                {"text": "Invitations to dinner", "correct": True},
                {"text": "A coffee"},
            ],
        },
    ],
    "pass_mark": 1.0,
}
QUIZ_ES: dict[str, Any] = {
    "questions": {
        "q1": {
            "text": "¿Quién puede aceptar regalos?",
            "options": {"a": "Nadie", "b": "Jefes", "c": "Todos"},
        },
        "q2": {
            "text": "¿Qué hay que declarar?",
            "options": {
                "a": "Regalos de más de 50 EUR",
                "b": "Invitaciones a cenar",
                "c": "Un café",
            },
        },
    }
}
RIGHT = {"q1": ["a"], "q2": ["a", "b"]}
HALF = {"q1": ["a"], "q2": ["a"]}
WRONG = {"q1": ["b"], "q2": ["c"]}


@pytest.fixture
def policy(published):  # noqa: F811
    """Publish a policy that needs an acknowledgement and a passed quiz; returns its id."""

    async def _publish(**fields: Any) -> str:
        body = {
            "category": "policy",
            "title": "Gifts policy",
            "body": "Accept no gifts.",
            "requires_acknowledgement": True,
            "acknowledgement_text": "I have read and understood.",
            "quiz": QUIZ,
            "translations": {
                "es": {
                    "title": "Política de regalos",
                    "body": "No aceptes regalos.",
                    "quiz": QUIZ_ES,
                }
            },
        }
        return await published(**{**body, **fields})

    return _publish
