"""SCIM filters (RFC 7644 §3.4.2.2) to one SQL condition over employees.

scim2-models parses the filter and resolves each attribute path against the User model;
this module only turns the resolved tree into SQLAlchemy. Supported: `eq`, `ne`, `co`, `sw`,
`ew`, `pr`, `and`, `or`, `not`, and `emails[...]` selections, on the attributes listed in
`_COLUMNS` plus `id`, `userName`, `emails` and `userType`. Anything else is `invalidFilter`.
String comparisons are case-insensitive except on `id` and `externalId` (caseExact).

Filters compare the directory's values, which a User may read otherwise (see `mapping`):
`emails` is the employee's one e-mail, presented as the primary `work` address; `userType`
matches the employment type it names; `locale` and `preferredLanguage` match the employee's
locale.
"""

import uuid
from typing import Any

from scim2_models import InvalidFilterException, SCIMException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)
from sqlalchemy import and_, false, func, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from app.employees.models import Employee
from app.scim.mapping import employment_type_of
from app.scim.schemas import ENTERPRISE_SCHEMA, MAX_FILTER_LENGTH, USER_SCHEMA, ScimUser

_CORE = USER_SCHEMA.lower() + ":"
_ENTERPRISE = ENTERPRISE_SCHEMA.lower() + ":"

# Attributes stored in one column, compared case-insensitively.
_COLUMNS: dict[str, Any] = {
    _CORE + "displayname": Employee.display_name,
    _CORE + "name.givenname": Employee.given_name,
    _CORE + "name.familyname": Employee.family_name,
    _CORE + "title": Employee.job_title,
    _CORE + "locale": Employee.locale,
    _CORE + "preferredlanguage": Employee.locale,
    _ENTERPRISE + "employeenumber": Employee.employee_number,
    _ENTERPRISE + "department": Employee.department,
    _ENTERPRISE + "division": Employee.division,
}
_STRING_OPERATORS = {
    CompareOperator.eq,
    CompareOperator.ne,
    CompareOperator.co,
    CompareOperator.sw,
    CompareOperator.ew,
}
# The SCIM userName of an employee the HRIS created without one (see mapping.user_name_of).
_USER_NAME = func.coalesce(Employee.user_name, Employee.email, Employee.external_id)


def parse_filter(text: str) -> ColumnElement[bool]:
    """The SQL condition for a SCIM filter; `InvalidFilterException` when it cannot be."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(
            detail=f"The filter is longer than {MAX_FILTER_LENGTH} characters."
        )
    try:
        scim_filter = ScimFilter[ScimUser](text)
        return _SqlFilter(scim_filter).visit(scim_filter.ast)
    except InvalidFilterException:
        raise
    except SCIMException as exc:  # e.g. invalidValue for a value its attribute cannot take
        raise InvalidFilterException(detail=exc.detail) from exc


def user_name_is(value: str) -> ColumnElement[bool]:
    """Employees whose SCIM userName equals `value` (case-insensitively); index-friendly."""
    folded = value.lower()
    return or_(
        Employee.user_name == folded,
        and_(Employee.user_name.is_(None), Employee.email == folded),
        and_(
            Employee.user_name.is_(None),
            Employee.email.is_(None),
            Employee.external_id.in_({value, folded}),
        ),
    )


def _unsupported(what: str) -> InvalidFilterException:
    return InvalidFilterException(detail=f"Filtering on {what} is not supported.")


def _compare_text(
    column: Any,
    op: CompareOperator,
    value: Any,
    *,
    attr: str,
    case_exact: bool = False,
    stored_lower: bool = False,
) -> ColumnElement[bool]:
    """A comparison that is never NULL, so that `not (...)` keeps rows without a value.

    `stored_lower`: the column holds lower-cased values, so its index serves `eq`.
    """
    if op not in _STRING_OPERATORS or not isinstance(value, str):
        raise _unsupported(f"'{attr}' with '{op.value}'")
    operand = column if case_exact or stored_lower else func.lower(column)
    wanted = value if case_exact else value.lower()
    if op == CompareOperator.ne:
        return or_(column.is_(None), operand != wanted)
    match op:
        case CompareOperator.eq:
            condition = operand == wanted
        case CompareOperator.co:
            condition = operand.contains(wanted, autoescape=True)
        case CompareOperator.sw:
            condition = operand.startswith(wanted, autoescape=True)
        case _:
            condition = operand.endswith(wanted, autoescape=True)
    return and_(column.is_not(None), condition)


def _email_type(op: CompareOperator, value: Any) -> ColumnElement[bool]:
    # The one stored address is presented as the primary `work` one.
    if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, str):
        raise _unsupported(f"'emails.type' with '{op.value}'")
    is_work = Employee.email.is_not(None) if value.lower() == "work" else false()
    return is_work if op == CompareOperator.eq else not_(is_work)


def _email_primary(op: CompareOperator, value: Any) -> ColumnElement[bool]:
    if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
        raise _unsupported(f"'emails.primary' with '{op.value}'")
    is_primary = Employee.email.is_not(None) if value else false()
    return is_primary if op == CompareOperator.eq else not_(is_primary)


class _SqlFilter(FilterVisitor[ColumnElement[bool]]):
    def __init__(self, scim_filter: ScimFilter[Any]) -> None:
        self.filter = scim_filter
        self.in_emails = False  # inside `emails[...]`, names are sub-attributes of emails

    def _urn(self, attr_path: AttrPath, *, comparison: bool) -> str:
        if self.in_emails:
            return f"{_CORE}emails.{attr_path.attr.lower()}"
        binding = (
            self.filter.resolve_comparison(attr_path)
            if comparison
            else self.filter.resolve(attr_path)
        )
        if binding is None:  # pragma: no cover - the filter is always bound
            raise _unsupported(str(attr_path))
        return binding.urn.lower()

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        if node.attr_path.attr.lower() != "emails" or self.in_emails:
            raise _unsupported(f"'{node.attr_path}[...]'")
        self.in_emails = True
        try:
            return self.visit(node.val_filter)
        finally:
            self.in_emails = False

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        urn = self._urn(node.attr_path, comparison=False)
        if urn in _COLUMNS:
            return _COLUMNS[urn].is_not(None)
        present = {
            _CORE + "id": true(),
            _CORE + "externalid": true(),
            _CORE + "username": true(),
            _CORE + "active": true(),
            _CORE + "name": or_(
                Employee.given_name.is_not(None), Employee.family_name.is_not(None)
            ),
            _CORE + "emails": Employee.email.is_not(None),
            _CORE + "emails.value": Employee.email.is_not(None),
            _CORE + "emails.type": Employee.email.is_not(None),
            _CORE + "emails.primary": Employee.email.is_not(None),
            _CORE + "usertype": Employee.employment_type.is_not(None),
            _ENTERPRISE + "manager": Employee.manager_external_id.is_not(None),
            _ENTERPRISE + "manager.value": Employee.manager_external_id.is_not(None),
        }
        if urn not in present:
            raise _unsupported(f"'{node.attr_path}'")
        return present[urn]

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        urn = self._urn(node.attr_path, comparison=True)
        op, attr = node.op, str(node.attr_path)
        value = node.value
        if not self.in_emails:
            # typed as the attribute declares it, e.g. "true" -> True for `active`
            binding = self.filter.resolve_comparison(node.attr_path)
            if binding is not None:
                value = coerce_value(binding, node.value, op)
        if urn in _COLUMNS:
            return _compare_text(_COLUMNS[urn], op, value, attr=attr)
        match urn.removeprefix(_CORE):
            case "username":
                if op == CompareOperator.eq and isinstance(value, str):
                    return user_name_is(value)
                return _compare_text(_USER_NAME, op, value, attr=attr)
            case "externalid":
                return _compare_text(Employee.external_id, op, value, case_exact=True, attr=attr)
            case "id":
                return self._id(op, value)
            case "emails.value":
                return _compare_text(Employee.email, op, value, attr=attr, stored_lower=True)
            case "emails.type":
                return _email_type(op, value)
            case "emails.primary":
                return _email_primary(op, value)
            case "active":
                return self._active(op, value)
            case "usertype":
                return self._user_type(op, value)
        raise _unsupported(f"'{node.attr_path}'")

    @staticmethod
    def _active(op: CompareOperator, value: Any) -> ColumnElement[bool]:
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
            raise _unsupported(f"'active' with '{op.value}'")
        return Employee.active.is_(value if op == CompareOperator.eq else not value)

    @staticmethod
    def _user_type(op: CompareOperator, value: Any) -> ColumnElement[bool]:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise _unsupported(f"'userType' with '{op.value}'")
        kind = employment_type_of(value) if isinstance(value, str) else None
        same = Employee.employment_type == kind if kind else false()
        if op == CompareOperator.eq:
            return and_(Employee.employment_type.is_not(None), same)
        return or_(Employee.employment_type.is_(None), not_(same))

    @staticmethod
    def _id(op: CompareOperator, value: Any) -> ColumnElement[bool]:
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, str):
            raise _unsupported(f"'id' with '{op.value}'")
        try:
            same = Employee.id == uuid.UUID(value)
        except ValueError:
            same = false()  # not one of our ids: matches nobody
        return same if op == CompareOperator.eq else not_(same)
