"""Field types shared across areas: BCP 47 locales and ISO 3166-1 country codes; and the one
check every request gets: no NUL characters, which PostgreSQL text and JSONB cannot hold."""

import json
from typing import Annotated, Any

import langcodes
import pycountry
from fastapi import Request
from pydantic import AfterValidator, Field

from app.core.errors import ValidationFailed, field_error, format_loc
from app.core.timezones import valid_time_zone


def normalize_locale(value: str) -> str:
    """`es_mx` / `ES-mx` -> `es-MX`; reject what is not a valid BCP 47 tag."""
    candidate = value.strip().replace("_", "-")
    if not candidate or len(candidate) > 35 or not langcodes.tag_is_valid(candidate):
        raise ValueError(f"'{value}' is not a valid BCP 47 language tag (e.g. 'en', 'es-MX')")
    return langcodes.standardize_tag(candidate)


def normalize_country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code (e.g. 'ES')")
    return code


LocaleTag = Annotated[
    str,
    Field(min_length=2, max_length=35, examples=["en", "es-MX"]),
    AfterValidator(normalize_locale),
]
CountryCode = Annotated[
    str, Field(min_length=2, max_length=2, examples=["ES"]), AfterValidator(normalize_country)
]


def check_time_zone(value: str) -> str:
    if not valid_time_zone(value):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. 'Europe/Madrid')")
    return value


TimeZone = Annotated[
    str, Field(max_length=64, examples=["Europe/Madrid"]), AfterValidator(check_time_zone)
]


NUL = "\x00"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NUL_MESSAGE = "Text must not contain NUL characters (U+0000)."


def _nul_location(document: Any) -> tuple[Any, ...] | None:
    """Where the first NUL is in a parsed JSON document (iterative: documents nest deeply)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ("body",))]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return loc
        elif isinstance(value, dict):
            for key in value:
                if NUL in key:
                    return (*loc, key.replace(NUL, "\\u0000"))
            stack.extend((item, (*loc, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[i], (*loc, i)) for i in reversed(range(len(value))))
    return None


def _refuse(loc: tuple[Any, ...]) -> ValidationFailed:
    return ValidationFailed([field_error(format_loc(loc), _NUL_MESSAGE, "string_nul")])


async def reject_nul_characters(request: Request) -> None:
    """422 for a NUL character anywhere in the path, the query or a JSON body.

    One check for every operation, so that each area need not remember it and both databases
    answer alike (SQLite would store NUL; PostgreSQL refuses it with a server error). The cost
    is a substring search of the raw body; the JSON is parsed again only to name the field.
    """
    scope = request.scope
    if NUL in scope["path"]:
        for name, value in request.path_params.items():
            if isinstance(value, str) and NUL in value:
                raise _refuse(("path", name))
        raise _refuse(("path",))
    if b"%00" in scope["query_string"]:
        for name, value in request.query_params.multi_items():
            if NUL in name or NUL in value:
                raise _refuse(("query", name.replace(NUL, "")))
    if request.method in _BODY_METHODS:
        body = await request.body()
        # in JSON, NUL can only be written as the escape \u0000 (a raw control byte is invalid)
        if b"\\u0000" in body:
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                return  # not JSON: the operation's own parsing answers
            if (found := _nul_location(document)) is not None:
                raise _refuse(found)
