"""API shapes of the reports."""

from datetime import datetime

from pydantic import BaseModel, Field

from app.advocacy.schemas import AdvocacyFigures
from app.reports.aggregates import GroupBy, ReportGroupBy


class ReachFigures(BaseModel):
    recipients: int = Field(description="Employees who received at least one of the messages.")
    deliveries: int = Field(description="(message, employee) pairs.")
    read: int
    read_rate: float | None
    acknowledgement_requested: int = Field(
        description="Deliveries of messages that ask for acknowledgement."
    )
    acknowledged: int = Field(description="Of those, acknowledged in the current version.")
    acknowledgement_rate: float | None
    due: int = Field(description="Deliveries with an acknowledgement due date.")
    acknowledged_on_time: int = Field(
        description="Of those, acknowledged (current version) by the due date."
    )
    on_time_acknowledgement_rate: float | None


class PulseSummary(BaseModel):
    respondents: int = Field(description="Employees who answered at least one pulse question.")
    responses: int = Field(description="Pulse answers.")
    mean: float


class AlignmentRow(BaseModel):
    unit: str
    reach: ReachFigures | None = Field(
        description="Null when this unit's reach is counted in (other)."
    )
    pulse: PulseSummary | None = Field(
        description="Null when this unit's pulse answers are counted in (other) (or too few)."
    )
    advocacy: AdvocacyFigures | None = Field(
        default=None,
        description="Shares of the messages by the unit's employees and the clicks on them; "
        "null when fewer than the minimum shared (counted in (other)).",
    )


class BrandAlignmentOut(BaseModel):
    since: datetime
    until: datetime
    categories: list[str]
    tag: str | None
    group_by: ReportGroupBy
    min_group_size: int
    total: AlignmentRow
    units: list[AlignmentRow]


# --- the listening loop (issue 21) ----------------------------------------------------------


class ListeningFigures(BaseModel):
    feedback: int = Field(description="Comments and questions written in the period.")
    questions_asked: int
    questions_answered: int
    median_hours_to_answer: float | None = Field(
        description="From a question to its answer, over the answered ones."
    )
    feedback_linked: int = Field(description="Feedback linked to at least one action.")
    median_hours_to_action: float | None = Field(
        description="From a comment or question to the first action linked to it."
    )


class ListeningGroup(ListeningFigures):
    group: str = Field(
        description='The authors\' unit; `"(unknown)"` for anonymous feedback and authors '
        'without one; `"(other)"` for units merged by the minimum-group rule.'
    )


class ListeningActions(BaseModel):
    created: int = Field(description="Actions created in the period.")
    planned: int
    in_progress: int
    done: int
    declined: int


class ListeningOut(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    min_group_size: int
    total: ListeningFigures
    actions: ListeningActions
    groups: list[ListeningGroup]
