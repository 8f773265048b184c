"""Comprehension checks: each attempt an employee makes at a message's quiz, and how each of
its questions went (the rows the per-question report counts).

The quiz itself is part of the message's content (`messages.quiz`, snapshotted in
`message_versions.quiz`): it changes only with a new version.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.database import JSONType, UTCDateTime, owned_by


class QuizAttempt(SQLModel, table=True):
    """One scored attempt. Numbered per (message, employee, acknowledgement round): the unique
    number is what makes concurrent attempts of one caller count one by one, so neither
    `max_attempts` nor "no attempt after a pass" can be overrun."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint(
            "message_id",
            "employee_id",
            "acknowledgement_version",
            "number",
            name="uq_quiz_attempts_number",
        ),
        Index("ix_quiz_attempts_employee_id", "employee_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    employee_id: uuid.UUID = owned_by("employees.id")
    # the round it counts for: `messages.acknowledgement_version` at the time
    acknowledgement_version: int = Field(sa_column=Column(Integer, nullable=False))
    number: int = Field(sa_column=Column(Integer, nullable=False))
    # the content version whose quiz was answered, and the SHA-256 of that quiz (evidence)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    quiz_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    # question id -> the option ids chosen
    answers: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    correct: int = Field(sa_column=Column(Integer, nullable=False))
    total: int = Field(sa_column=Column(Integer, nullable=False))
    passed: bool = Field(sa_column=Column(Boolean, nullable=False))
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class QuizAnswer(SQLModel, table=True):
    """Whether one question of one attempt was answered right."""

    __tablename__ = "quiz_answers"

    attempt_id: uuid.UUID = owned_by("quiz_attempts.id", primary_key=True)
    question_id: str = Field(sa_column=Column(String(40), primary_key=True))
    correct: bool = Field(sa_column=Column(Boolean, nullable=False))
