"""SCIM 2.0 shapes: the User resource as Brandcast stores it, and what the service announces.

The resource models list only the attributes an employee keeps, so `/Schemas` describes
exactly what is stored. Anything else a provider sends (phone numbers, addresses, custom
extensions) is ignored on input, as SCIM providers expect; see `POLICY`.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Extension,
    Filter,
    Mutability,
    Pagination,
    Patch,
    Required,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import Reference as ScimReference
from scim2_models.resources.resource import AnyExtension
from scim2_models.urn import URN

SCIM_MEDIA_TYPE = "application/scim+json"
SCIM_PREFIX = "/scim/v2"

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

DEFAULT_COUNT = 100
MAX_COUNT = 200
MAX_FILTER_LENGTH = 1000


# --- the resource ----------------------------------------------------------------------------


class Name(ComplexAttribute):
    given_name: str | None = None
    """The given name; stored as the employee's `given_name`."""

    family_name: str | None = None
    """The family name; stored as the employee's `family_name`."""


class Email(ComplexAttribute):
    # A plain string: a filter such as `emails.value eq "x"` must not fail on the value's
    # syntax; the address is validated where the employee is built.
    value: str | None = None
    """An address; the employee keeps one (primary, else work, else the first one)."""

    type: str | None = None
    """`work`, `home` or `other`."""

    primary: bool | None = None
    """Whether this is the preferred address."""


class Manager(ComplexAttribute):
    # RFC 7643 §8.7.1 declares `value` and `$ref` optional; providers send `value` alone.
    value: Annotated[str | None, CaseExact.true] = None
    """The manager's SCIM `id` or `externalId`; stored as `manager_external_id`."""

    ref: Annotated[ScimReference["User"] | None, Mutability.read_only] = Field(  # type: ignore[type-arg]
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the manager's SCIM resource, when the manager is provisioned here."""

    display_name: Annotated[str | None, Mutability.read_only] = None
    """The manager's display name, when the manager is provisioned here."""


class EnterpriseUser(Extension):
    """Enterprise attributes of an employee."""

    __schema__ = URN(ENTERPRISE_SCHEMA)

    employee_number: str | None = None
    """Stored as the employee's `employee_number`."""

    division: str | None = None
    """Stored as the employee's `division`."""

    department: str | None = None
    """Stored as the employee's `department`."""

    manager: Manager | None = None
    """The employee's manager."""


class User(Resource[AnyExtension]):
    """An employee, as an identity provider provisions it."""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    """Unique, case-insensitive, stored lower-cased; also the e-mail when none is given."""

    name: Name | None = None
    """The employee's name."""

    display_name: str | None = None
    """Stored as the employee's `display_name`."""

    title: str | None = None
    """Stored as the employee's `job_title`."""

    user_type: str | None = None
    """The employment type (full_time, part_time, contractor, intern, temporary); others ignored."""

    preferred_language: str | None = None
    """Used as the employee's locale when `locale` is not given."""

    locale: str | None = None
    """A BCP 47 tag, stored normalized (e.g. `es-MX`)."""

    timezone: str | None = None
    """An IANA time zone (e.g. `Europe/Madrid`), stored as the employee's `time_zone`; a
    value that is none reads back as sent and stores no time zone."""

    active: bool | None = None
    """Whether the employee is active; inactive employees receive no messages."""

    emails: list[Email] | None = None
    """E-mail addresses (see `value`)."""


ScimUser = User[EnterpriseUser]

# What real providers send, tolerated: attributes and extensions this service does not
# store are dropped (RFC 7644 §3.3 lets a service ignore them), Entra ID's `remove` with a
# value selects the entries to remove, and an `add`/`replace` through a filter such as
# `emails[type eq "work"].value` that matches nothing creates that entry.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

USER_RESOURCE_TYPE = ResourceType.from_resource(ScimUser).model_copy(
    update={"description": "An employee of the directory"}
)

SERVICE_PROVIDER_CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_COUNT),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=True),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer API token",
            description=(
                "A Brandcast API token (bc_<prefix>_<secret>) holding the employees:write "
                "scope, sent as `Authorization: Bearer <token>`."
            ),
            primary=True,
        )
    ],
    pagination=Pagination(
        cursor=False, index=True, default_page_size=DEFAULT_COUNT, max_page_size=MAX_COUNT
    ),
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser],
    resource_types=[USER_RESOURCE_TYPE],
    config=SERVICE_PROVIDER_CONFIG,
    policy=POLICY,
)


# --- OpenAPI shapes (documentation only: the wire format comes from the models above) ------


class ScimError(BaseModel):
    """An RFC 7644 §3.12 error body."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "schemas": [ERROR_SCHEMA],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "Another user already has this userName.",
            }
        }
    )

    schemas: list[str]
    status: str = Field(description="The HTTP status, as a string.")
    scimType: str | None = Field(default=None, description="The RFC 7644 error keyword.")
    detail: str


ScimBody = dict[str, Any]
"""A SCIM JSON object; its shape is the schema the `schemas` member names."""

USER_EXAMPLE: ScimBody = {
    "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
    "externalId": "E10042",
    "userName": "ana.garcia@example.com",
    "name": {"givenName": "Ana", "familyName": "García"},
    "displayName": "Ana García",
    "emails": [{"value": "ana.garcia@example.com", "type": "work", "primary": True}],
    "title": "Account Executive",
    "locale": "es-ES",
    "active": True,
    ENTERPRISE_SCHEMA: {
        "employeeNumber": "10042",
        "department": "Sales",
        "division": "Commercial",
        "manager": {"value": "E10001"},
    },
}

SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SEARCH_EXAMPLE: ScimBody = {
    "schemas": [SEARCH_SCHEMA],
    "filter": 'userName eq "ana.garcia@example.com"',
    "attributes": ["userName", "active"],
    "startIndex": 1,
    "count": 10,
}

PATCH_EXAMPLES: dict[str, Any] = {
    "okta-deactivate": {
        "summary": "Okta: deactivate",
        "value": {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    },
    "entra": {
        "summary": "Microsoft Entra ID: paths, capitalised ops, string booleans",
        "value": {
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "a@example.com"},
                {"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": "E10001"},
            ],
        },
    },
}
