"""The calling employee's own shapes."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.employees.models import EmploymentType
from app.feedback.models import ReactionKind
from app.feedback.schemas import ReactionSummary
from app.messages.models import Category, Priority
from app.messages.schemas import FeedbackSettings
from app.quizzes.schemas import QuizView


class MeOut(BaseModel):
    """The caller's employee record, as the HRIS keeps it."""

    model_config = ConfigDict(from_attributes=True)

    external_id: str = Field(examples=["E-10442"])
    email: str | None = Field(examples=["ana.garcia@example.com"])
    display_name: str | None
    given_name: str | None
    family_name: str | None
    department: str | None
    division: str | None
    location: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2.", examples=["MX"])
    job_title: str | None
    job_level: int | None
    manager_external_id: str | None
    employment_type: EmploymentType | None
    customer_facing: bool
    hire_date: date | None
    locale: str | None = Field(description="BCP 47.", examples=["es-MX"])
    active: bool
    attributes: dict[str, Any]


class FeedState(StrEnum):
    UNREAD = "unread"
    UNACKNOWLEDGED = "unacknowledged"


class FeedItem(BaseModel):
    """A message as delivered to the caller, in their best locale, with receipt and feedback."""

    id: uuid.UUID
    category: Category
    priority: Priority
    title: str
    summary: str | None
    body: str | None = Field(
        description="Markdown, as written. In the feed list only with `include=body`; always "
        "in the single-message view."
    )
    locale: str = Field(
        description="The locale of `title`, `summary` and `body` as served.", examples=["es"]
    )
    edition: str | None = Field(
        default=None,
        description="The unit whose local edition is served (e.g. `country=MX`); null: HQ's text.",
    )
    local_note: str | None = Field(
        default=None, description="The local edition's note, shown under HQ's text."
    )
    tags: list[str]
    requires_acknowledgement: bool
    acknowledgement_text: str | None = Field(
        description="The statement the caller acknowledges (as the message, or their edition, "
        "states it)."
    )
    version: int = Field(description="The content version served.")
    published_at: datetime
    expires_at: datetime | None
    read_at: datetime | None = Field(description="When the caller first read it.")
    acknowledged_at: datetime | None = Field(
        description="When the caller acknowledged it; null until they acknowledge the current "
        "version (also after the message asked for re-acknowledgement)."
    )
    acknowledge_by: datetime | None = Field(description="The caller's acknowledgement due date.")
    pulse_question: str | None = Field(
        description="The question the caller may answer with a score from 1 to 5, in the served "
        "`locale` when translated; null when the message asks none."
    )
    feedback: FeedbackSettings = Field(
        description="What the message lets employees do: which feedback controls to show."
    )
    reactions: ReactionSummary = Field(description="Employees per reaction, and in total.")
    my_reaction: ReactionKind | None = Field(description="The caller's reaction, if any.")
    my_pulse: int | None = Field(description="The caller's answer to the pulse question (1 to 5).")
    quiz: QuizView | None = Field(  # issue 21
        default=None,
        description="The comprehension check to pass before acknowledging (questions and "
        "options, never the answers); null when the message has none.",
    )
