"""API shapes of comprehension checks.

Editors see the quiz with its right options (`Quiz`, inside a message); employees get a
`QuizView`, built from the quiz by `app.quizzes.service.quiz_view`, which has no field that
could carry one; an attempt's result (`QuizAttemptOut`) names the questions answered wrongly,
never the right options.
"""

import string
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.reports.aggregates import GroupBy

MAX_QUESTIONS = 10
MAX_OPTIONS = 10
MAX_QUESTION = 500
MAX_OPTION = 300
MAX_ATTEMPTS = 20

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(description="A short key (letters, digits, `_`, `-`), stable across versions."),
]
QuestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION)
]
OptionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPTION)
]


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"


class QuizOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key | None = Field(default=None, description="Defaults to `a`, `b`, … by position.")
    text: OptionText
    correct: bool = False


class QuizQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key | None = Field(default=None, description="Defaults to `q1`, `q2`, … by position.")
    kind: QuestionKind = Field(
        default=QuestionKind.SINGLE,
        description="`single`: exactly one right option; `multiple`: one or more, and an "
        "answer is right when it chooses exactly the right ones.",
    )
    text: QuestionText
    options: list[QuizOption] = Field(min_length=2, max_length=MAX_OPTIONS)

    @model_validator(mode="after")
    def _options(self) -> "QuizQuestion":
        letters = string.ascii_lowercase
        for position, option in enumerate(self.options):
            if option.id is None:
                option.id = letters[position]
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("option ids must be distinct within a question")
        right = sum(o.correct for o in self.options)
        if self.kind is QuestionKind.SINGLE and right != 1:
            raise ValueError("a `single` question needs exactly one option with `correct: true`")
        if right == 0:
            raise ValueError("a question needs at least one option with `correct: true`")
        return self


class Quiz(BaseModel):
    """A comprehension check: while a message that asks for acknowledgement has one, an
    employee acknowledges it only after passing it (in the current acknowledgement round)."""

    model_config = ConfigDict(extra="forbid")

    questions: list[QuizQuestion] = Field(min_length=1, max_length=MAX_QUESTIONS)
    pass_mark: float = Field(
        gt=0, le=1, description="The share of questions answered right that passes, e.g. 0.8."
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Attempts allowed per employee and acknowledgement round; none: unlimited.",
    )

    @model_validator(mode="after")
    def _questions(self) -> "Quiz":
        for position, question in enumerate(self.questions, start=1):
            if question.id is None:
                question.id = f"q{position}"
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be distinct")
        return self


class QuestionTranslation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: QuestionText
    options: dict[Key, OptionText] = Field(
        max_length=MAX_OPTIONS, description="Option id -> its text in this locale."
    )


class QuizTranslation(BaseModel):
    """The quiz's texts in one more locale: every question and option, by id (the right
    options are the quiz's own, the same in every locale)."""

    model_config = ConfigDict(extra="forbid")

    questions: dict[Key, QuestionTranslation] = Field(max_length=MAX_QUESTIONS)


# --- employee side ------------------------------------------------------------------------


class QuizOptionView(BaseModel):
    id: str
    text: str


class QuizQuestionView(BaseModel):
    id: str
    kind: QuestionKind
    text: str
    options: list[QuizOptionView]


class QuizView(BaseModel):
    """The comprehension check as the caller gets it: questions and options, no answers."""

    locale: str = Field(description="The locale of the questions as served.")
    questions: list[QuizQuestionView]
    pass_mark: float
    max_attempts: int | None
    attempts: int = Field(description="The caller's attempts in the current round.")
    attempts_left: int | None = Field(description="Null when attempts are unlimited.")
    passed: bool = Field(description="The caller passed it in the current round.")


class QuizAttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[Key, Annotated[list[Key], Field(min_length=1, max_length=MAX_OPTIONS)]] = Field(
        max_length=MAX_QUESTIONS,
        description="Question id -> the ids of the options chosen; every question answered.",
    )
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="The locale the questions were shown in (else the caller's best locale).",
    )


class QuizAttemptOut(BaseModel):
    """An attempt's result: which questions were wrong, never which options were right."""

    id: uuid.UUID
    message_id: uuid.UUID
    number: int = Field(description="1 for the first attempt of the round.")
    version: int = Field(description="The content version whose quiz was answered.")
    locale: str
    correct: int
    total: int
    score: float = Field(description="`correct / total`.")
    pass_mark: float
    passed: bool
    wrong_question_ids: list[str]
    attempts_left: int | None
    attempted_at: datetime


# --- reports ------------------------------------------------------------------------------


class QuizFigures(BaseModel):
    employees: int = Field(description="Employees who made at least one attempt.")
    passed: int
    passed_first_time: int
    attempts: int
    first_attempt_pass_rate: float | None = Field(description="`passed_first_time / employees`.")
    attempts_per_pass: float | None = Field(description="`attempts / passed` (null: no pass).")


class QuizGroup(QuizFigures):
    group: str


class QuestionFigures(BaseModel):
    id: str
    text: str
    answers: int | None = Field(description="Null while fewer employees than the minimum group.")
    wrong: int | None
    wrong_share: float | None = Field(description="`wrong / answers`: which question people miss.")


class QuizReport(BaseModel):
    message_id: uuid.UUID
    acknowledgement_version: int = Field(description="The round reported (the current one).")
    overall: QuizFigures
    group_by: GroupBy | None
    groups: list[QuizGroup] = Field(
        description="Per unit with `group_by`; units under the minimum group size are merged "
        'into `"(other)"`.'
    )
    questions: list[QuestionFigures]
