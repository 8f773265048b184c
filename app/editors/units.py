"""Units: the part of the company an editor grant covers, written as a scope and as a key.

A scope is `{"country": "MX"}` or `{"country": ["AR", "MX"], "division": "Retail"}`: attributes
(`country`, `division`, `department`, `location`) ANDed, the values of one attribute ORed. Its
key is the canonical text `country=AR,MX;division=Retail` (attributes and values sorted), used in
paths (`PUT /v1/messages/{id}/editions/country=MX`) and stored on audiences, messages and
editions. As a rule it is `{"all": [{"attribute": "country", "op": "in", "value": [...]}, ...]}`,
so membership in a unit is compiled by the audiences' one rule compiler.
"""

from collections.abc import Mapping
from typing import Any

from app.core.errors import Forbidden, ValidationFailed, field_error
from app.core.validators import normalize_country

UNIT_ATTRIBUTES = ("country", "department", "division", "location")
MAX_UNIT_VALUES = 50
MAX_UNIT_VALUE = 200
MAX_KEY = 1000

Scope = dict[str, list[str]]


def _values(name: str, raw: Any, loc: str) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or len(values) > MAX_UNIT_VALUES:
        raise ValidationFailed([field_error(loc, f"between 1 and {MAX_UNIT_VALUES} values")])
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_UNIT_VALUE:
            raise ValidationFailed([field_error(loc, "each value is a non-empty text")])
        if any(c in value for c in ",;=\x00"):
            raise ValidationFailed([field_error(loc, "a value may not contain `,`, `;` or `=`")])
        try:
            out.append(normalize_country(value) if name == "country" else value.strip())
        except ValueError as exc:
            raise ValidationFailed([field_error(loc, str(exc))]) from None
    return sorted(set(out))


def normalize_scope(raw: Mapping[str, Any], *, loc: str = "body.scope") -> Scope:
    """A validated scope, attributes and values sorted (422 naming the field otherwise)."""
    if not raw:
        raise ValidationFailed([field_error(loc, "names at least one attribute")])
    scope: Scope = {}
    for name in sorted(raw):
        if name not in UNIT_ATTRIBUTES:
            raise ValidationFailed(
                [
                    field_error(
                        f"{loc}.{name}", f"not a unit attribute ({', '.join(UNIT_ATTRIBUTES)})"
                    )
                ]
            )
        scope[name] = _values(name, raw[name], f"{loc}.{name}")
    return scope


def unit_key(scope: Scope) -> str:
    return ";".join(f"{name}={','.join(values)}" for name, values in sorted(scope.items()))


def parse_unit(key: str, *, loc: str = "path.unit") -> Scope:
    """The scope a key names (`country=MX`); 422 when it is not one."""
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed([field_error(loc, "not a unit key such as `country=MX`")])
    raw: dict[str, Any] = {}
    for part in key.split(";"):
        name, sep, values = part.partition("=")
        if not sep or name in raw:
            raise ValidationFailed([field_error(loc, "not a unit key such as `country=MX`")])
        raw[name] = values.split(",")
    return normalize_scope(raw, loc=loc)


def unit_rule(scope: Scope) -> dict[str, Any]:
    """The scope as an audience rule (already in the normalized form `validate_rule` keeps)."""
    return {
        "all": [
            {"attribute": name, "op": "in", "value": list(values)}
            for name, values in sorted(scope.items())
        ]
    }


def within(inner: Scope, outer: Scope) -> bool:
    """Whether every employee of `inner` is in `outer`: each attribute `outer` constrains is
    constrained by `inner` to a subset of its values."""
    return all(name in inner and set(inner[name]) <= set(values) for name, values in outer.items())


def outside(unit: str) -> Forbidden:
    return Forbidden(f"This credential is scoped to the unit `{unit}`; that reaches outside it.")


def check_rule_inside(rule: Mapping[str, Any], scope: Scope, unit: str) -> None:
    """403 when a rule names, for an attribute of the scope, values outside it: in a condition
    that must hold (the rule itself, or under `all`). Everything else is ANDed with the unit
    anyway, so it cannot reach outside; this only refuses an obvious mistake loudly."""
    nodes = [rule]
    while nodes:
        node = nodes.pop()
        if "all" in node:
            nodes.extend(node["all"])
            continue
        name, op = node.get("attribute"), node.get("op")
        if name in scope and op in ("eq", "in"):
            values = node["value"] if isinstance(node["value"], list) else [node["value"]]
            if not set(values) <= set(scope[name]):
                raise outside(unit)
