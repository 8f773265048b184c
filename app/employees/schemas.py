import math
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.core.validators import CountryCode, LocaleTag, TimeZone
from app.employees.models import EmploymentType

MAX_BULK_RECORDS = 10_000
MAX_LISTED_DEACTIVATIONS = 1_000  # external ids listed in a sync's answer; the count is whole
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 500
# Integers beyond 2**53 lose precision in JavaScript clients and in some JSON parsers.
_SAFE_INT = 2**53


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _sorted_keys(value: dict[str, Any]) -> dict[str, Any]:
    # One key order everywhere, so the stored JSON of an unchanged record compares equal.
    return dict(sorted(value.items()))


def _at_most_bulk(value: Any) -> Any:
    if isinstance(value, list) and len(value) > MAX_BULK_RECORDS:
        raise PydanticCustomError(
            "too_many_records",
            "At most {limit} employees per call, got {count}; split the sync into several calls "
            "(or use `brandcast employees import`).",
            {"limit": f"{MAX_BULK_RECORDS:,}", "count": f"{len(value):,}"},
        )
    return value


def _attribute_value(value: Any) -> str | int | float | bool:
    """One clear error per bad value (a plain union would report one per member type)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _SAFE_INT:
            raise PydanticCustomError("attribute_value", "integers must lie within ±2**53")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("attribute_value", "numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise PydanticCustomError(
                "attribute_value",
                "text values have at most {limit} characters",
                {"limit": MAX_ATTRIBUTE_TEXT},
            )
        return value
    raise PydanticCustomError("attribute_value", "must be a string, a number or a boolean")


def _optional_text(max_length: int) -> Any:
    """Optional text: surrounding blanks stripped, an empty value means "not set"."""
    text = Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)
    ]
    return Annotated[text | None, BeforeValidator(_blank_to_none)]


Text100 = _optional_text(100)
Text200 = _optional_text(200)
Text255 = _optional_text(255)


ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
    Field(description="The HRIS key of the employee.", examples=["E10042"]),
]
Email = Annotated[
    Annotated[EmailStr, StringConstraints(max_length=320)] | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(_lower),
    Field(description="Unique, case-insensitively; stored lower-cased."),
]
UserName = Annotated[
    _optional_text(320),
    AfterValidator(_lower),
    Field(description="Login name (SCIM `userName`); unique, stored lower-cased."),
]
ATTRIBUTE_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
AttributeKey = Annotated[str, StringConstraints(pattern=ATTRIBUTE_KEY_PATTERN)]
AttributeValue = Annotated[
    str | int | float | bool,
    PlainValidator(_attribute_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT},
                {"type": "number"},
                {"type": "boolean"},
            ]
        }
    ),
]
Attributes = Annotated[
    dict[AttributeKey, AttributeValue],
    Field(
        max_length=MAX_ATTRIBUTES,
        description=(
            f"Custom attributes: up to {MAX_ATTRIBUTES} keys (`[A-Za-z_][A-Za-z0-9_]{{0,63}}`) "
            f"with string (≤ {MAX_ATTRIBUTE_TEXT} characters), number or boolean values."
        ),
        examples=[{"cost_center": "4100", "shift_hours": 8, "union_member": False}],
    ),
    AfterValidator(_sorted_keys),
]


class SyncMode(StrEnum):
    UPSERT = "upsert"
    FULL_SYNC = "full_sync"


class EmployeeIn(BaseModel):
    """An employee as the HRIS describes it; a PUT replaces every field."""

    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId | None = Field(
        default=None, description="Optional in a PUT, where it must equal the path's."
    )
    email: Email = None
    user_name: UserName = None
    employee_number: Text100 = None
    display_name: Text200 = None
    given_name: Text200 = None
    family_name: Text200 = None
    department: Text200 = None
    division: Text200 = None
    location: Text200 = None
    country: Annotated[
        CountryCode | None,
        BeforeValidator(_blank_to_none),
        Field(description="ISO 3166-1 alpha-2."),
    ] = None
    job_title: Text200 = None
    job_level: int | None = Field(default=None, ge=0, le=1000, description="Integer grade.")
    manager_external_id: Text255 = None
    employment_type: Annotated[EmploymentType | None, BeforeValidator(_blank_to_none)] = None
    customer_facing: bool = Field(
        default=False, description="Front-line staff who carry the brand promise to customers."
    )
    hire_date: Annotated[date | None, BeforeValidator(_blank_to_none)] = None
    locale: Annotated[
        LocaleTag | None, BeforeValidator(_blank_to_none), Field(description="BCP 47.")
    ] = None
    time_zone: Annotated[
        TimeZone | None,
        BeforeValidator(_blank_to_none),
        Field(description="IANA, e.g. `Europe/Madrid`; without it, the country's main zone."),
    ] = None
    active: bool = True
    attributes: Attributes = Field(default_factory=dict)


class EmployeeRecord(EmployeeIn):
    """One record of a bulk sync or CSV import: `external_id` is required."""

    external_id: ExternalId


class BulkSyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employees: Annotated[
        list[EmployeeRecord],
        BeforeValidator(_at_most_bulk),
        Field(min_length=1, description=f"1 to {MAX_BULK_RECORDS:,} employee records."),
    ]
    mode: SyncMode = Field(
        default=SyncMode.UPSERT,
        description="`full_sync` also deactivates active employees absent from this batch.",
    )
    dry_run: bool = Field(
        default=False,
        description="Check and count everything, change nothing: the answer says what the "
        "call would do, including who a full sync would deactivate.",
    )
    allow_mass_deactivation: bool = Field(
        default=False,
        description="Let a full sync deactivate more than BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE "
        "(default 10%) of the active employees; without it such a sync is refused with 409.",
    )


class BulkSyncOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    deactivated: int = Field(
        description="Active employees absent from a full sync's batch, deactivated (in a dry "
        "run: who would be)."
    )
    deactivated_external_ids: list[str] = Field(
        default_factory=list,
        description=f"Their external ids, sorted; at most {MAX_LISTED_DEACTIVATIONS:,} "
        "(`deactivated` is the total).",
    )
    dry_run: bool = Field(default=False, description="True: nothing was changed.")


class EmployeeFilters(BaseModel):
    """Exact-match filters of `GET /v1/employees` (all optional, combined with AND)."""

    department: str | None = Field(default=None, max_length=200)
    division: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    country: CountryCode | None = None
    job_title: str | None = Field(default=None, max_length=200)
    job_level: int | None = Field(default=None, ge=0, le=1000)
    employment_type: EmploymentType | None = None
    customer_facing: bool | None = None
    manager_external_id: str | None = Field(default=None, max_length=255)
    locale: LocaleTag | None = None
    email: Annotated[Annotated[str, Field(max_length=320)] | None, AfterValidator(_lower)] = None
    hired_from: date | None = Field(default=None, description="Hire date on or after.")
    hired_until: date | None = Field(default=None, description="Hire date on or before.")
    active: bool | None = None
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Case-insensitive substring of display, given or family name, or e-mail.",
    )


class EmployeeOut(BaseModel):
    id: uuid.UUID
    external_id: str
    email: str | None
    user_name: str | None
    employee_number: str | None
    display_name: str | None
    given_name: str | None
    family_name: str | None
    department: str | None
    division: str | None
    location: str | None
    country: str | None
    job_title: str | None
    job_level: int | None
    manager_external_id: str | None
    employment_type: EmploymentType | None
    customer_facing: bool
    hire_date: date | None
    locale: str | None
    time_zone: str | None = None
    active: bool
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None
    erased_at: datetime | None
