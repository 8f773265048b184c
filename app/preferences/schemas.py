"""The shapes of `/v1/me/preferences` and `/v1/employees/{external_id}/preferences`.

One field per preference. To add one (a boolean, say): a nullable column in
`models.EmployeePreference`, a field here in `PreferencesIn` and `PreferencesOut`, and its
company default in `service.DEFAULTS`. `advocacy_leaderboard` is the exception: the advocacy
area keeps it (`app.advocacy.service`), these routes only expose it.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from app.core.timezones import minutes_of_day
from app.core.validators import TimeZone
from app.messages.models import Category


class DigestFrequency(StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


def _time(value: str) -> str:
    if minutes_of_day(value) is None:
        raise ValueError("expected a 24-hour time HH:MM, e.g. '20:00'")
    return value.strip()


TimeOfDay = Annotated[str, Field(max_length=5, examples=["20:00"]), AfterValidator(_time)]


class QuietHours(BaseModel):
    """Local times between which nothing but critical messages is e-mailed; `end` before
    `start` spans midnight."""

    model_config = ConfigDict(extra="forbid")

    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHours":
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


EMAIL_DESCRIPTION = (
    "E-mail on or off per message category (categories left out are on). Messages that "
    "require acknowledgement and `critical` ones are e-mailed whatever this says."
)


class PreferencesIn(BaseModel):
    """The whole set (PUT replaces it). A field left out takes the company default;
    `quiet_hours: null` means none."""

    model_config = ConfigDict(extra="forbid")

    email: dict[Category, bool] = Field(default_factory=dict, description=EMAIL_DESCRIPTION)
    digest: DigestFrequency | None = Field(
        default=None,
        description="`daily` or `weekly`: `normal` messages come in one digest e-mail at the "
        "local `digest_hour` instead of one e-mail each.",
    )
    digest_hour: int | None = Field(default=None, ge=0, le=23, description="Local hour, 0-23.")
    quiet_hours: QuietHours | None = None
    time_zone: TimeZone | None = Field(default=None, description="IANA, e.g. `Europe/Madrid`.")
    advocacy_leaderboard: StrictBool = Field(
        default=False,
        description="Appear on the advocacy leaderboard (`GET /v1/advocacy/leaderboard`). Only "
        "the employee can opt in; an admin may only opt them out.",
    )


class PreferencesOut(BaseModel):
    """What applies now: the employee's choices, else the company defaults."""

    email: dict[Category, bool] = Field(description=EMAIL_DESCRIPTION)
    unsubscribed: bool = Field(
        description="The employee used a one-click unsubscribe link: no e-mails except those "
        "that require acknowledgement or are critical, until preferences are saved again."
    )
    digest: DigestFrequency
    digest_hour: int
    quiet_hours: QuietHours | None
    time_zone: str
    time_zone_source: str = Field(
        description="Where `time_zone` comes from: `preferences`, `directory` (the employee's "
        "`time_zone`), `country` (its main zone) or `company` (BRANDCAST_DEFAULT_TIME_ZONE)."
    )
    chosen: list[str] = Field(
        description="The fields the employee (or an admin) set; the others are defaults."
    )
    advocacy_leaderboard: bool = Field(
        description="The employee appears on the advocacy leaderboard (off unless they chose it)."
    )
