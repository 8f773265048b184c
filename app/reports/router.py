from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from app.auth.dependencies import ReceiptsRead
from app.core.session import SessionDep
from app.editors.guards import CompanyWide
from app.messages.schemas import MAX_TAG
from app.reports import listening, service
from app.reports.aggregates import GroupBy, MinGroupSize, ReportGroupBy
from app.reports.schemas import BrandAlignmentOut, ListeningOut

router = APIRouter(prefix="/v1/reports", tags=["reports"])

BRAND_ALIGNMENT = """
Over the messages of the brand categories (`brand_promise`, `mission`, `vision`, `values`)
published in `[since, until)`, per unit of the employees' current attributes: recipients
(people), deliveries (message x person), read rate, acknowledgement rate (current version,
among deliveries of messages that ask for it), on-time acknowledgement rate (acknowledged by
the due date, among those with one), and pulse respondents, responses and mean.

Units with fewer than `BRANDCAST_MIN_GROUP_SIZE` (default 5) recipients are summed into
`"(other)"`, and a unit's pulse figures only show with that many respondents; when `"(other)"`
would be non-empty but under the minimum, the smallest units shown join it, so the total minus
the units shown never singles anyone out. `total.pulse` is `null` under the minimum too.
"""


@router.get(
    "/brand-alignment",
    operation_id="getBrandAlignmentReport",
    summary="Reach, acknowledgement and pulse of the brand messages, per unit",
    description=BRAND_ALIGNMENT,
)
async def brand_alignment(
    session: SessionDep,
    principal: ReceiptsRead,
    min_group_size: MinGroupSize,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Messages published at or after this time; default `until` - 90 days."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Messages published before this time; default now.")
    ] = None,
    tag: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_TAG, description="Only messages with this tag."),
    ] = None,
    group_by: Annotated[
        ReportGroupBy,
        Query(description="The unit to report on; `edition`: HQ's text against each edition."),
    ] = ReportGroupBy.DEPARTMENT,
) -> BrandAlignmentOut:
    return await service.brand_alignment(
        session,
        principal,
        since=since,
        until=until,
        tag=tag.strip() if tag else None,
        group_by=group_by,
        min_group_size=min_group_size,
    )


LISTENING = """
The listening loop over `[since, until)` (default: the 90 days up to now): the comments and
questions written, questions answered and the median time to an answer, feedback linked to
actions and the median time from feedback to its first action; and the actions created in the
period by status (done vs declined).

Per unit of the authors' current attributes; anonymous feedback has no author and is the unit
`"(unknown)"`. A unit is shown with at least `BRANDCAST_MIN_GROUP_SIZE` (default 5) people
behind it (distinct authors, and one per anonymous comment); the others are merged into
`"(other)"`, which the smallest units shown join while it is too small.
"""


@router.get(
    "/listening",
    operation_id="getListeningReport",
    summary="Listen, answer, act: questions answered, feedback that led to actions, and how fast",
    description=LISTENING,
    dependencies=[CompanyWide],
)
async def listening_report(
    session: SessionDep,
    principal: ReceiptsRead,
    min_group_size: MinGroupSize,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Feedback and actions from this time; default `until` - 90 days."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Feedback and actions before this time.")
    ] = None,
    group_by: Annotated[GroupBy, Query(description="The unit to report on.")] = GroupBy.DEPARTMENT,
) -> ListeningOut:
    return await listening.listening(
        session,
        principal,
        since=since,
        until=until,
        group_by=group_by,
        min_group_size=min_group_size,
    )
