"""How an employee reads as a SCIM User, and how a SCIM User becomes an employee.

| SCIM                                   | employee                                          |
| -------------------------------------- | ------------------------------------------------- |
| `id`                                   | `id` (UUID)                                       |
| `externalId`                           | `external_id`; on create without one: `userName`  |
| `userName`                             | `user_name` (lower-cased); read as `email`, then  |
|                                        | `external_id` for employees the HRIS created      |
| `emails`                               | `email`: the primary, else `work`, else the first |
|                                        | address; without any, an e-mail-like `userName`   |
| `name.givenName` / `name.familyName`   | `given_name` / `family_name`                      |
| `displayName`, `title`                 | `display_name`, `job_title`                       |
| `locale`, else `preferredLanguage`     | `locale` (BCP 47)                                 |
| `userType`                             | `employment_type`, only when it names one         |
| `active`                               | `active`; an omitted `active` changes nothing     |
| enterprise `employeeNumber`,           | `employee_number`, `department`, `division`       |
| `department`, `division`               |                                                   |
| enterprise `manager.value`             | `manager_external_id` (a SCIM id is resolved to   |
|                                        | that employee's `external_id`)                    |

A SCIM write replaces the attributes above and keeps what SCIM does not carry (`location`,
`country`, `job_level`, `customer_facing`, `hire_date`, `attributes`), which the HRIS owns.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from scim2_models import InvalidValueException, Meta

from app.employees.models import Employee, EmploymentType
from app.employees.schemas import EmployeeIn
from app.employees.service import employee_etag
from app.scim.schemas import (
    ENTERPRISE_SCHEMA,
    Email,
    EnterpriseUser,
    Manager,
    Name,
    ScimUser,
)

# How the employee fields read in SCIM, to name them in error details.
_SCIM_NAMES = {
    "external_id": "externalId",
    "user_name": "userName",
    "email": "emails",
    "display_name": "displayName",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "job_title": "title",
    "locale": "locale",
    "employee_number": f"{ENTERPRISE_SCHEMA}:employeeNumber",
    "department": f"{ENTERPRISE_SCHEMA}:department",
    "division": f"{ENTERPRISE_SCHEMA}:division",
    "manager_external_id": f"{ENTERPRISE_SCHEMA}:manager",
}
_USER_TYPE_ALIASES = {
    "fulltime": EmploymentType.FULL_TIME,
    "parttime": EmploymentType.PART_TIME,
    "contract": EmploymentType.CONTRACTOR,
    "internship": EmploymentType.INTERN,
    "temp": EmploymentType.TEMPORARY,
}


@dataclass(frozen=True)
class ManagerRef:
    """The manager of an employee, when the manager is an employee here too."""

    id: uuid.UUID
    external_id: str
    display_name: str | None


def user_name_of(employee: Employee) -> str:
    """The SCIM userName (required): employees synced by the HRIS may have none stored."""
    return employee.user_name or employee.email or employee.external_id


def employment_type_of(user_type: str | None) -> EmploymentType | None:
    """`Full-Time`, `full time`, `FullTime` -> full_time; None for anything else."""
    if not user_type:
        return None
    key = user_type.strip().lower().replace("-", "_").replace(" ", "_")
    if key in EmploymentType._value2member_map_:
        return EmploymentType(key)
    return _USER_TYPE_ALIASES.get(key.replace("_", ""))


def user_location(base_url: str, employee_id: uuid.UUID) -> str:
    return f"{base_url}/Users/{employee_id}"


def to_scim(employee: Employee, *, base_url: str, manager: ManagerRef | None) -> ScimUser:
    """The employee as a SCIM User, with `meta` (location and version = the ETag)."""
    name = None
    if employee.given_name or employee.family_name:
        name = Name(given_name=employee.given_name, family_name=employee.family_name)
    user = ScimUser(
        id=str(employee.id),
        external_id=employee.external_id,
        user_name=user_name_of(employee),
        name=name,
        display_name=employee.display_name,
        title=employee.job_title,
        user_type=employee.employment_type,
        preferred_language=employee.locale,
        locale=employee.locale,
        active=employee.active,
        emails=[Email(value=employee.email, type="work", primary=True)] if employee.email else None,
        meta=Meta(
            resource_type="User",
            created=employee.created_at,
            last_modified=employee.updated_at,
            location=user_location(base_url, employee.id),
            version=employee_etag(employee),
        ),
    )
    boss = None
    if employee.manager_external_id:
        boss = Manager(value=employee.manager_external_id)
        if manager is not None:
            # RFC 7643 §4.3: `value` is the manager's SCIM id when we know the manager.
            boss = Manager(
                value=str(manager.id),
                ref=user_location(base_url, manager.id),
                display_name=manager.display_name,
            )
    enterprise = EnterpriseUser(
        employee_number=employee.employee_number,
        division=employee.division,
        department=employee.department,
        manager=boss,
    )
    if enterprise.model_dump(exclude_none=True, exclude={"schemas"}):
        user[EnterpriseUser] = enterprise
    return user


def manager_value(user: ScimUser) -> str | None:
    enterprise = user[EnterpriseUser]
    if enterprise is None or enterprise.manager is None:
        return None
    return (enterprise.manager.value or "").strip() or None


def _looks_like_email(value: str | None) -> bool:
    if not value:
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _chosen_email(user: ScimUser) -> str | None:
    addresses = [e for e in user.emails or [] if e.value]
    chosen = (
        next((e for e in addresses if e.primary), None)
        or next((e for e in addresses if (e.type or "").lower() == "work"), None)
        or next(iter(addresses), None)
    )
    if chosen is not None:
        return chosen.value
    return user.user_name if _looks_like_email(user.user_name) else None


def _locale(user: ScimUser) -> str | None:
    if user.locale:
        return user.locale
    if user.preferred_language:
        # Accept-Language syntax (RFC 7643 §4.1.1): take the first, most preferred tag
        return user.preferred_language.split(",")[0].split(";")[0].strip() or None
    return None


def to_employee(
    user: ScimUser,
    *,
    current: EmployeeIn | None,
    manager_external_id: str | None,
    default_external_id: bool = False,
) -> EmployeeIn:
    """The employee a SCIM User describes, over `current` (what SCIM does not carry stays).

    Without `externalId`, `external_id` is None (a replace keeps the stored one), or with
    `default_external_id` the lower-cased userName. Raises `InvalidValueException` naming
    the SCIM attribute when a value does not fit.
    """
    enterprise = user[EnterpriseUser] or EnterpriseUser()
    values: dict[str, Any] = current.model_dump() if current is not None else {}
    external_id = user.external_id
    if external_id is None and default_external_id and user.user_name:
        external_id = user.user_name.strip().lower()
    values.update(
        external_id=external_id,
        user_name=user.user_name,
        email=_chosen_email(user),
        display_name=user.display_name,
        given_name=user.name.given_name if user.name else None,
        family_name=user.name.family_name if user.name else None,
        job_title=user.title,
        locale=_locale(user),
        employee_number=enterprise.employee_number,
        department=enterprise.department,
        division=enterprise.division,
        manager_external_id=manager_external_id,
    )
    if user.active is not None:
        values["active"] = user.active
    kind = employment_type_of(user.user_type)
    if kind is not None:
        values["employment_type"] = kind
    try:
        return EmployeeIn.model_validate(values)
    except ValidationError as exc:
        raise InvalidValueException(detail=_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:3]:
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{_SCIM_NAMES.get(field, field)}: {msg}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
