import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from app.audiences.rules import RULE_JSON_SCHEMA

MAX_LISTED = 10_000


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Key = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"),
    Field(
        description="Optional stable handle for scripts (unique; letters, digits, `_.:-`).",
        examples=["frontline-es-mx-ar"],
    ),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Rule = Annotated[dict[str, Any], WithJsonSchema(RULE_JSON_SCHEMA)]
ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
ExternalIds = Annotated[
    list[ExternalId],
    Field(max_length=MAX_LISTED, description=f"Employee `external_id`s, at most {MAX_LISTED:,}."),
    AfterValidator(_dedupe),
]


class AudienceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    key: Key | None = None
    description: Description | None = None
    rule: Rule
    include_external_ids: ExternalIds = Field(
        default_factory=list, description="Active employees who are members whatever the rule."
    )
    exclude_external_ids: ExternalIds = Field(
        default_factory=list, description="Employees who are never members (exclude wins)."
    )


# Fields that may be absent from a PATCH but, when present, must not be null.
_NOT_NULL = ("name", "rule", "include_external_ids", "exclude_external_ids")


class AudienceUpdate(BaseModel):
    """A partial edit: only the fields present change (`null` clears `key` or `description`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    key: Key | None = None
    description: Description | None = None
    rule: Rule | None = None
    include_external_ids: ExternalIds | None = None
    exclude_external_ids: ExternalIds | None = None

    @field_validator(*_NOT_NULL, mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class AudienceOut(BaseModel):
    id: uuid.UUID
    name: str
    key: str | None
    description: str | None
    rule: dict[str, Any] = Field(description="The rule as stored (values normalized).")
    include_external_ids: list[str]
    exclude_external_ids: list[str]
    member_count: int = Field(description="Active employees who are members now.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    etag: str = Field(description="The `ETag` of this state; send it back as `If-Match`.")


class AudiencePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Rule
    include_external_ids: ExternalIds = Field(default_factory=list)
    exclude_external_ids: ExternalIds = Field(default_factory=list)


class AudienceMember(BaseModel):
    external_id: str
    display_name: str | None
    department: str | None
    country: str | None


class AudiencePreview(BaseModel):
    count: int = Field(description="Active employees who would be members now.")
    sample: list[AudienceMember] = Field(description="Up to 20 of them, by `external_id`.")
