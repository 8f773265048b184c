import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.editors.models import GrantRole


class EditorGrantCreate(BaseModel):
    """A role over one unit for an employee (by HRIS key) or an API token (by id)."""

    model_config = ConfigDict(extra="forbid")

    employee_external_id: str | None = Field(default=None, min_length=1, max_length=320)
    token_id: uuid.UUID | None = None
    role: GrantRole
    scope: dict[str, Any] = Field(
        description="The unit: attributes `country`, `division`, `department`, `location`, each "
        'one value or a list, e.g. `{"country": "MX"}`. Attributes are ANDed, values ORed.',
        examples=[{"country": "MX"}],
        max_length=4,
    )

    @model_validator(mode="after")
    def _one_grantee(self) -> "EditorGrantCreate":
        if (self.employee_external_id is None) == (self.token_id is None):
            raise ValueError("name exactly one of `employee_external_id` and `token_id`")
        return self


class EditorGrantOut(BaseModel):
    id: uuid.UUID
    employee_external_id: str | None
    token_id: uuid.UUID | None
    role: GrantRole
    unit: str = Field(description="The unit's key, e.g. `country=MX` (used in edition paths).")
    scope: dict[str, list[str]]
    created_by: str
    created_at: datetime
