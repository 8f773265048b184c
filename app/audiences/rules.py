"""Audience rules: validation of the JSON tree and its compilation to one SQL condition.

A rule is `{"all": [rule, ...]}`, `{"any": [rule, ...]}`, `{"not": rule}` or a condition
`{"attribute": NAME, "op": OP, "value": VALUE}`. `{"all": []}` is everyone, `{"any": []}` nobody.

Missing values (NULL columns, absent `attributes.<key>`, or a custom attribute holding a value of
another JSON type than the rule's) match no condition except `exists: false`. Every condition is
therefore plain true or false, never SQL's "unknown", and `not` is plain negation:
`{"not": {"attribute": "country", "op": "eq", "value": "ES"}}` includes employees without a
country, while `{"attribute": "country", "op": "ne", "value": "ES"}` only matches employees
whose country is known and is not ES. Text comparisons are exact (case-sensitive) on both
databases; text has no ordering operators because PostgreSQL collations and SQLite disagree.

Dates are ISO dates (`2025-01-01`) or a signed ISO 8601 period relative to the UTC date the rule
is evaluated on (`-P90D` = 90 days ago, `P2W` = in two weeks).
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, case, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from app.core import sql
from app.core.database import JSONType
from app.core.errors import ValidationFailed, field_error, format_loc
from app.core.validators import normalize_country, normalize_locale
from app.employees.models import Employee, EmploymentType

MAX_DEPTH = 10
MAX_LEAVES = 200
MAX_NODES = 1000
MAX_IN_VALUES = 1000
MAX_TEXT = 500
MAX_ERRORS = 50
# PostgreSQL INTEGER: a wider bound would fail at execution instead of validation
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

ATTRIBUTE_PREFIX = "attributes."
# the employee directory's rule for custom attribute keys; also keeps JSON paths unquoted-safe
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RELATIVE_DATE = re.compile(r"^([+-]?)P(\d{1,5})([DW])$")


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    STARTS_WITH = "starts_with"
    EXISTS = "exists"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"


class Kind(StrEnum):
    TEXT = "text"
    COUNTRY = "country code"
    LOCALE = "locale"
    EMPLOYMENT_TYPE = "employment type"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"


EQUALITY = {Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.EXISTS}
ORDERING = {Op.LT, Op.LTE, Op.GT, Op.GTE}

OPS_BY_KIND: dict[Kind, frozenset[Op]] = {
    Kind.TEXT: frozenset(EQUALITY | {Op.STARTS_WITH}),
    Kind.COUNTRY: frozenset(EQUALITY),
    Kind.LOCALE: frozenset(EQUALITY | {Op.STARTS_WITH}),
    Kind.EMPLOYMENT_TYPE: frozenset(EQUALITY),
    Kind.INTEGER: frozenset(EQUALITY | ORDERING),
    Kind.NUMBER: frozenset(EQUALITY | ORDERING),
    Kind.BOOLEAN: frozenset({Op.EQ, Op.NE, Op.EXISTS}),
    Kind.DATE: frozenset(EQUALITY | ORDERING),
}

# the employee columns a rule may name, and what their values are
ATTRIBUTES: dict[str, Kind] = {
    "department": Kind.TEXT,
    "division": Kind.TEXT,
    "location": Kind.TEXT,
    "country": Kind.COUNTRY,
    "job_title": Kind.TEXT,
    "job_level": Kind.INTEGER,
    "employment_type": Kind.EMPLOYMENT_TYPE,
    "customer_facing": Kind.BOOLEAN,
    "hire_date": Kind.DATE,
    "locale": Kind.LOCALE,
    "manager_external_id": Kind.TEXT,
}

GROUP_KEYS = ("all", "any", "not")
LEAF_KEYS = ("attribute", "op", "value")
EVERYONE: dict[str, Any] = {"all": []}

RULE_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'A rule tree: `{"all": [rule, ...]}`, `{"any": [rule, ...]}`, `{"not": rule}` or '
        '`{"attribute": NAME, "op": OP, "value": VALUE}`. NAME: '
        + ", ".join(ATTRIBUTES)
        + ", or `attributes.<key>`. OP: "
        + ", ".join(op.value for op in Op)
        + f". At most {MAX_DEPTH} levels and {MAX_LEAVES} conditions. "
        '`{"all": []}` is everyone, `{"any": []}` nobody (for an audience made only of '
        "`include_external_ids`). Missing values match nothing but `exists: false`; "
        "`not` is plain negation. Dates: `YYYY-MM-DD` or relative to today (`-P90D`)."
    ),
    "examples": [
        {
            "all": [
                {"attribute": "customer_facing", "op": "eq", "value": True},
                {"attribute": "country", "op": "in", "value": ["ES", "MX", "AR"]},
                {"attribute": "hire_date", "op": "lt", "value": "2025-01-01"},
            ]
        }
    ],
}


# -- validation ------------------------------------------------------------------------------


class _Invalid(Exception):
    """One bad value; the message becomes a field error at the value's location."""


@dataclass
class _Validator:
    errors: list[dict[str, str]] = field(default_factory=list)
    leaves: int = 0
    nodes: int = 0

    def error(self, loc: Sequence[Any], msg: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(field_error(format_loc(tuple(loc)), msg))

    def node(self, node: Any, loc: tuple[Any, ...], depth: int) -> dict[str, Any] | None:
        if depth > MAX_DEPTH:
            self.error(loc, f"Rules nest at most {MAX_DEPTH} levels deep.")
            return None
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self.error(loc, f"A rule has at most {MAX_NODES} nodes.")
            return None
        if not isinstance(node, dict):
            self.error(
                loc,
                'Must be an object: {"all": [...]}, {"any": [...]}, {"not": rule} '
                'or {"attribute", "op", "value"}.',
            )
            return None
        groups = [k for k in GROUP_KEYS if k in node]
        if groups:
            return self.group(node, groups, loc, depth)
        if "attribute" in node or "op" in node:
            return self.leaf(node, loc)
        unknown = ", ".join(f"`{k}`" for k in node) or "nothing"
        self.error(
            loc,
            f"Expected `all`, `any`, `not` or a condition (`attribute`, `op`, `value`); "
            f"got {unknown}.",
        )
        return None

    def group(
        self, node: dict[str, Any], groups: list[str], loc: tuple[Any, ...], depth: int
    ) -> dict[str, Any] | None:
        kind = groups[0]
        bad = False
        for key in node:
            if key != kind:
                self.error((*loc, key), f"Unknown key next to `{kind}`; a node has one key.")
                bad = True
        value = node[kind]
        if kind == "not":
            child = self.node(value, (*loc, "not"), depth + 1)
            return None if bad or child is None else {"not": child}
        if not isinstance(value, list):
            self.error((*loc, kind), f"`{kind}` takes a list of rules.")
            return None
        children = [self.node(c, (*loc, kind, i), depth + 1) for i, c in enumerate(value)]
        if bad or any(c is None for c in children):
            return None
        return {kind: children}

    def leaf(self, node: dict[str, Any], loc: tuple[Any, ...]) -> dict[str, Any] | None:
        self.leaves += 1
        ok = True
        for key in node:
            if key not in LEAF_KEYS:
                self.error((*loc, key), "Unknown key; a condition has `attribute`, `op`, `value`.")
                ok = False
        for key in LEAF_KEYS:
            if key not in node:
                self.error((*loc, key), "Field required.")
                ok = False
        if not ok:
            return None
        attribute, op, value = node["attribute"], node["op"], node["value"]
        if not isinstance(attribute, str) or not _known_attribute(attribute):
            self.error(
                (*loc, "attribute"),
                "Unknown attribute; use one of "
                + ", ".join(ATTRIBUTES)
                + " or `attributes.<key>` (key: letters, digits, `_`).",
            )
            return None
        if not isinstance(op, str) or op not in Op._value2member_map_:
            self.error((*loc, "op"), "Unknown operator; use one of " + ", ".join(Op) + ".")
            return None
        op = Op(op)
        try:
            normalized = _check_value(attribute, op, value, loc)
        except _InvalidAt as exc:
            self.error(exc.loc, exc.msg)
            return None
        return {"attribute": attribute, "op": op.value, "value": normalized}


class _InvalidAt(Exception):
    def __init__(self, loc: tuple[Any, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg


def _known_attribute(name: str) -> bool:
    if name in ATTRIBUTES:
        return True
    return name.startswith(ATTRIBUTE_PREFIX) and bool(
        ATTRIBUTE_KEY.match(name[len(ATTRIBUTE_PREFIX) :])
    )


def _json_kind(value: Any) -> Kind | None:
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int | float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.TEXT
    return None


def _check_value(attribute: str, op: Op, value: Any, loc: tuple[Any, ...]) -> Any:
    value_loc = (*loc, "value")
    if op == Op.EXISTS:
        if not isinstance(value, bool):
            raise _InvalidAt(value_loc, "`exists` takes `true` or `false`.")
        return value
    listed = op in (Op.IN, Op.NOT_IN)
    if listed:
        if not isinstance(value, list):
            raise _InvalidAt(value_loc, f"`{op}` takes a list of values.")
        if not value:
            raise _InvalidAt(value_loc, f"`{op}` needs at least one value.")
        if len(value) > MAX_IN_VALUES:
            raise _InvalidAt(value_loc, f"`{op}` takes at most {MAX_IN_VALUES} values.")
    custom = attribute.startswith(ATTRIBUTE_PREFIX)
    if custom:
        first = value[0] if listed else value
        kind = _json_kind(first)
        if kind is None:
            raise _InvalidAt(
                value_loc + ((0,) if listed else ()),
                "Custom attributes compare with a string, a number or a boolean.",
            )
    else:
        kind = ATTRIBUTES[attribute]
    if op not in OPS_BY_KIND[kind]:
        allowed = ", ".join(o.value for o in Op if o in OPS_BY_KIND[kind])
        what = f"a {kind.value} value" if custom else f"`{attribute}` (a {kind.value})"
        raise _InvalidAt((*loc, "op"), f"`{op}` does not apply to {what}; use one of {allowed}.")
    if not listed:
        return _scalar(kind, op, value, value_loc)
    return [_scalar(kind, op, item, (*value_loc, i)) for i, item in enumerate(value)]


def _scalar(kind: Kind, op: Op, value: Any, loc: tuple[Any, ...]) -> Any:
    try:
        return _SCALAR_CHECKS[kind](value, op)
    except _Invalid as exc:
        raise _InvalidAt(loc, str(exc)) from None


def _text(value: Any, _op: Op) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("Must be a non-empty string.")
    if len(value) > MAX_TEXT:
        raise _Invalid(f"At most {MAX_TEXT} characters.")
    return value


def _country(value: Any, _op: Op) -> str:
    if not isinstance(value, str):
        raise _Invalid("Must be an ISO 3166-1 alpha-2 country code (e.g. 'ES').")
    try:
        return normalize_country(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _locale(value: Any, op: Op) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("Must be a BCP 47 language tag (e.g. 'es-MX').")
    try:
        return normalize_locale(value)
    except ValueError as exc:
        if op == Op.STARTS_WITH:  # a prefix need not be a whole tag
            return _text(value, op)
        raise _Invalid(str(exc)) from None


def _employment_type(value: Any, _op: Op) -> str:
    if not isinstance(value, str) or value not in EmploymentType._value2member_map_:
        raise _Invalid("Must be one of " + ", ".join(EmploymentType) + ".")
    return value


def _integer(value: Any, _op: Op) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("Must be an integer.")
    if not INT_MIN <= value <= INT_MAX:
        raise _Invalid("Out of range for an integer.")
    return value


def _number(value: Any, _op: Op) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("Must be a number (as the first value of the list).")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("Must be a finite number.")
    if abs(value) > 2**53:
        raise _Invalid("Must lie within ±2**53.")
    return value


def _boolean(value: Any, _op: Op) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("Must be true or false.")
    return value


def _date(value: Any, _op: Op) -> str:
    if isinstance(value, str):
        if RELATIVE_DATE.match(value):
            return value
        if ISO_DATE.match(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
    raise _Invalid("Must be a date `YYYY-MM-DD` or a period relative to today such as `-P90D`.")


_SCALAR_CHECKS = {
    Kind.TEXT: _text,
    Kind.COUNTRY: _country,
    Kind.LOCALE: _locale,
    Kind.EMPLOYMENT_TYPE: _employment_type,
    Kind.INTEGER: _integer,
    Kind.NUMBER: _number,
    Kind.BOOLEAN: _boolean,
    Kind.DATE: _date,
}


def validate_rule(rule: Any, *, loc: tuple[Any, ...] = ("body", "rule")) -> dict[str, Any]:
    """Check a rule tree and return it normalized; 422 naming every bad node otherwise."""
    checker = _Validator()
    normalized = checker.node(rule, loc, 1)
    if checker.leaves > MAX_LEAVES:
        checker.errors.insert(
            0,
            field_error(
                format_loc(loc),
                f"A rule has at most {MAX_LEAVES} conditions; this one has {checker.leaves}.",
            ),
        )
    if checker.errors or normalized is None:
        raise ValidationFailed(checker.errors or [field_error(format_loc(loc), "Invalid rule.")])
    return normalized


# -- compilation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceSpec:
    """What membership depends on: a validated rule and the explicit lists."""

    rule: dict[str, Any]
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    # a unit's audience (`app.editors.units.unit_rule`): everything above is ANDed with it
    unit_rule: dict[str, Any] | None = None


# the JSON kind of a custom attribute's value, for each kind a rule compares with
_JSON_KINDS: dict[Kind, sql.JsonKind] = {
    Kind.TEXT: "string",
    Kind.NUMBER: "number",
    Kind.BOOLEAN: "boolean",
}


@dataclass(frozen=True)
class Compiler:
    """Compiles rules for one database dialect and one evaluation date.

    `cols` is where employee columns come from: the `Employee` entity, or the `.c` of a
    subquery or CTE selecting the same columns.
    """

    dialect: str
    today: date
    cols: Any = Employee

    def rule(self, rule: dict[str, Any]) -> ColumnElement[bool]:
        """One boolean SQL expression, true or false (never NULL) for every employee."""
        if "all" in rule:
            parts = [self.rule(r) for r in rule["all"]]
            return and_(*parts) if parts else true()
        if "any" in rule:
            parts = [self.rule(r) for r in rule["any"]]
            return or_(*parts) if parts else false()
        if "not" in rule:
            return not_(self.rule(rule["not"]))
        if "attribute" in rule:
            if rule["attribute"].startswith(ATTRIBUTE_PREFIX):
                return self._custom(rule)
            return self._column(rule)
        raise ValueError(f"not a validated rule node: {sorted(rule)}")

    def matches(self, spec: AudienceSpec) -> ColumnElement[bool]:
        """Rule or include list, minus exclude list (exclude wins); activity not checked."""
        cond = self.rule(spec.rule)
        if spec.include:
            cond = or_(cond, self.listed(spec.include))
        if spec.exclude:
            cond = and_(cond, not_(self.listed(spec.exclude)))
        if spec.unit_rule is not None:
            cond = and_(self.rule(spec.unit_rule), cond)
        return cond

    def members(self, specs: Sequence[AudienceSpec]) -> ColumnElement[bool]:
        """Active employees in any of the audiences: each employee is one row either way."""
        if not specs:
            return false()
        return and_(self.cols.active == true(), or_(*[self.matches(s) for s in specs]))

    def listed(self, external_ids: Sequence[str]) -> ColumnElement[bool]:
        """`external_id` in a list sent as one JSON parameter, however long the list."""
        param = bindparam(None, list(external_ids), type_=JSONType)
        elements = sql.json_array_elements(self.dialect, param)
        # a qualified column: a bare name could resolve to the outer employees.external_id
        return self.cols.external_id.in_(select(elements.c.value).scalar_subquery())

    def _column(self, rule: dict[str, Any]) -> ColumnElement[bool]:
        name, op, value = rule["attribute"], Op(rule["op"]), rule["value"]
        col = getattr(self.cols, name)
        if op == Op.EXISTS:
            return col.is_not(None) if value else col.is_(None)
        if ATTRIBUTES[name] == Kind.DATE:
            value = [self._date(v) for v in value] if isinstance(value, list) else self._date(value)
        # NULL compares as unknown; the explicit test keeps the condition two-valued
        return and_(col.is_not(None), _compare(col, op, value))

    def _custom(self, rule: dict[str, Any]) -> ColumnElement[bool]:
        key = rule["attribute"][len(ATTRIBUTE_PREFIX) :]
        op, value = Op(rule["op"]), rule["value"]
        doc = self.cols.attributes
        if op == Op.EXISTS:
            absent = sql.json_member_is(self.dialect, doc, key, "null")
            return not_(absent) if value else absent
        kind = _json_kind(value[0] if isinstance(value, list) else value)
        has_kind = sql.json_member_is(self.dialect, doc, key, _JSON_KINDS[kind])
        if kind == Kind.TEXT:
            extracted = doc[key].as_string()
        elif kind == Kind.NUMBER:
            extracted = doc[key].as_float()
            value = [float(v) for v in value] if isinstance(value, list) else float(value)
        else:
            extracted = doc[key].as_boolean()
        # CASE, not AND: PostgreSQL may evaluate AND operands in any order, and casting a
        # value of another JSON type (text to FLOAT) would fail the whole statement
        return case((has_kind, _compare(extracted, op, value)), else_=false())

    def _date(self, value: str) -> date:
        relative = RELATIVE_DATE.match(value)
        if relative is None:
            return date.fromisoformat(value)
        sign, amount, unit = relative.groups()
        days = int(amount) * (7 if unit == "W" else 1)
        return self.today + timedelta(days=-days if sign == "-" else days)


def _compare(col: Any, op: Op, value: Any) -> ColumnElement[bool]:
    match op:
        case Op.EQ:
            return col == value
        case Op.NE:
            return col != value
        case Op.IN:
            return col.in_(value)
        case Op.NOT_IN:
            return col.not_in(value)
        case Op.STARTS_WITH:
            # substr, not LIKE: SQLite's LIKE ignores case and both need escaping
            return func.substr(col, 1, len(value)) == value
        case Op.LT:
            return col < value
        case Op.LTE:
            return col <= value
        case Op.GT:
            return col > value
        case Op.GTE:
            return col >= value
    raise ValueError(f"no comparison for {op}")
