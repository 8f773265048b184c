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
| `locale`, else `preferredLanguage`     | `locale`: the first valid BCP 47 tag of the two   |
|                                        | (free text such as `English` is no tag: none)     |
| `userType`                             | `employment_type`, only when it names one         |
| `active`                               | `active`; an omitted `active` changes nothing     |
| enterprise `employeeNumber`,           | `employee_number`, `department`, `division`       |
| `department`, `division`               |                                                   |
| enterprise `manager.value`             | `manager_external_id` (a SCIM id is resolved to   |
|                                        | that employee's `external_id`)                    |

A SCIM write replaces the attributes above and keeps what SCIM does not carry (`location`,
`country`, `job_level`, `customer_facing`, `hire_date`, `attributes`), which the HRIS owns.

What the directory stores is not always what the identity provider sent: `locale: "English"`
gives no locale, `userType: "Full-Time"` is `full_time`, only one of several addresses is
the employee's e-mail, a removed `externalId` or `active` leaves the directory's in place. The
User reads back as the provider wrote it all the same (RFC 7644 §3.5: what was set reads
back): `scim_attributes` keeps, for each attribute of `KEPT` whose value differs from the
directory's own rendering, the value sent and the directory value it was stored as. The sent
value is shown while the directory still holds that value; once the directory changed by
another route (the HRIS, `/v1`), the directory's value is. `/v1` keeps its strict validation.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from scim2_models import InvalidValueException, Meta

from app.core.timezones import valid_time_zone
from app.core.validators import normalize_locale
from app.employees.models import Employee, EmploymentType
from app.employees.schemas import EmployeeIn
from app.employees.service import employee_etag
from app.messages.locales import MAX_HEADER, parse_accept_language
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
    "time_zone": "timezone",
    "employee_number": f"{ENTERPRISE_SCHEMA}:employeeNumber",
    "department": f"{ENTERPRISE_SCHEMA}:department",
    "division": f"{ENTERPRISE_SCHEMA}:division",
    "manager_external_id": f"{ENTERPRISE_SCHEMA}:manager",
}
# The SCIM attributes whose value may read otherwise than the directory stores it, and the
# employee field each one is stored in (see the module docstring).
KEPT: dict[str, str] = {
    "externalId": "external_id",
    "active": "active",
    "userType": "employment_type",
    "locale": "locale",
    "preferredLanguage": "locale",
    "emails": "email",
    "timezone": "time_zone",
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


def valid_locale(value: str | None) -> str | None:
    """`value` as a normalized BCP 47 tag (`es_mx` -> `es-MX`); None when it is none."""
    if not value:
        return None
    try:
        return normalize_locale(value)
    except ValueError:
        return None


def locale_of(locale: str | None, preferred_language: str | None) -> str | None:
    """The employee's locale: `locale` when it is a tag, else the most preferred tag of
    `preferredLanguage` (Accept-Language syntax, RFC 7643 §4.1.1), else none."""
    if (tag := valid_locale(locale)) is not None:
        return tag
    for entry in parse_accept_language((preferred_language or "")[:MAX_HEADER]):
        if (tag := valid_locale(entry)) is not None:
            return tag
    return None


def _email_value(email: Email) -> dict[str, Any]:
    # addresses compare case-insensitively (RFC 7643 §4.1.2): kept lower-cased, as `email` is
    value = email.value.strip().lower() if email.value else email.value
    return Email(value=value, type=email.type, primary=email.primary).model_dump(
        exclude_none=True, exclude={"schemas"}
    )


def _directory_view(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `KEPT` attributes as the directory's fields alone render them."""
    email = fields["email"]
    return {
        "externalId": fields["external_id"],
        "active": fields["active"],
        "userType": fields["employment_type"],
        "locale": fields["locale"],
        "preferredLanguage": None,
        "emails": [{"value": email, "type": "work", "primary": True}] if email else None,
        "timezone": fields["time_zone"],
    }


def _sent_view(user: ScimUser) -> dict[str, Any]:
    """The `KEPT` attributes as `user` has them."""
    return {
        "externalId": user.external_id,
        "active": user.active,
        "userType": user.user_type,
        "locale": user.locale,
        "preferredLanguage": user.preferred_language,
        "emails": [_email_value(e) for e in user.emails or []] or None,
        "timezone": user.timezone,
    }


def kept_attributes(user: ScimUser, data: EmployeeIn, *, external_id: str) -> dict[str, Any] | None:
    """What to keep in `scim_attributes` when `user` is stored as `data` (key `external_id`):
    `{attribute: {"sent": value, "as": directory value}}` for each attribute that the
    directory renders otherwise; None when it renders them all as sent. A User without
    e-mail addresses reads with the employee's e-mail (e.g. one taken from the userName)."""
    fields = {**data.model_dump(mode="json"), "external_id": external_id}
    plain, sent = _directory_view(fields), _sent_view(user)
    kept = {
        attribute: {"sent": sent[attribute], "as": fields[field]}
        for attribute, field in KEPT.items()
        if sent[attribute] != plain[attribute] and (attribute != "emails" or sent[attribute])
    }
    return kept or None


def _view(employee: Employee) -> dict[str, Any]:
    """The `KEPT` attributes of the employee's User: as sent while the directory holds what
    they were stored as, else as the directory renders them."""
    fields = {field: getattr(employee, field) for field in set(KEPT.values())}
    view = _directory_view(fields)
    for attribute, kept in (employee.scim_attributes or {}).items():
        field = KEPT.get(attribute)
        if field is not None and isinstance(kept, dict) and kept.get("as") == fields[field]:
            view[attribute] = kept.get("sent")
    return view


def to_scim(employee: Employee, *, base_url: str, manager: ManagerRef | None) -> ScimUser:
    """The employee as a SCIM User, with `meta` (location and version = the ETag)."""
    view = _view(employee)
    name = None
    if employee.given_name or employee.family_name:
        name = Name(given_name=employee.given_name, family_name=employee.family_name)
    user = ScimUser(
        id=str(employee.id),
        external_id=view["externalId"],
        user_name=user_name_of(employee),
        name=name,
        display_name=employee.display_name,
        title=employee.job_title,
        user_type=view["userType"],
        preferred_language=view["preferredLanguage"],
        locale=view["locale"],
        timezone=view["timezone"],
        active=view["active"],
        emails=[Email.model_validate(e) for e in view["emails"]] if view["emails"] else None,
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


def to_employee(
    user: ScimUser, *, current: EmployeeIn | None, manager_external_id: str | None
) -> EmployeeIn:
    """The employee a SCIM User describes, over `current` (what SCIM does not carry stays).

    Without `externalId`, `external_id` is None (a replace keeps the stored one); without
    `active`, `active` stays. Raises `InvalidValueException` naming the SCIM attribute when a
    value does not fit.
    """
    enterprise = user[EnterpriseUser] or EnterpriseUser()
    values: dict[str, Any] = current.model_dump() if current is not None else {}
    values.update(
        external_id=user.external_id,
        user_name=user.user_name,
        email=_chosen_email(user),
        display_name=user.display_name,
        given_name=user.name.given_name if user.name else None,
        family_name=user.name.family_name if user.name else None,
        job_title=user.title,
        locale=locale_of(user.locale, user.preferred_language),
        time_zone=user.timezone if user.timezone and valid_time_zone(user.timezone) else None,
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
