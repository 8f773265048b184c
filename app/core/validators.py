"""Field types shared across areas: BCP 47 locales and ISO 3166-1 country codes."""

from typing import Annotated

import langcodes
import pycountry
from pydantic import AfterValidator, Field


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
