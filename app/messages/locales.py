"""Which of a message's locales to serve an employee.

Preferences, in order: the `Accept-Language` header by q-value (RFC 9110; `*` and `q=0`
ignored), then the employee's own `locale`, then the message's own locale as the last resort.
For each preference the first of these that exists wins:
1. the same tag (case-insensitive): `es-MX` → `es-MX`;
2. the bare language: `es-MX` → `es`;
3. another variant of the language, the message's own locale first, then alphabetically:
   `es` → `es-ES`, `es-MX` → `es-AR` — a reader of one Spanish is better served by another
   than by the next language on the list.
"""

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

# at most this much of a header, and this many of its entries, are looked at; the rest
# cannot matter in practice (and a long header must not fail the feed nor fill the cache)
MAX_HEADER = 500
MAX_PREFERENCES = 20
_TAG = re.compile(r"^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$")


@lru_cache(maxsize=512)
def parse_accept_language(header: str) -> tuple[str, ...]:
    """Lower-cased language tags of an `Accept-Language` header, most preferred first.

    Malformed entries are skipped rather than rejected: browsers send what they send, and a
    feed must not fail over a header. Cached, since a client sends the same header each time.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:MAX_PREFERENCES]):
        tag, _, params = part.partition(";")
        tag = tag.strip().lower().replace("_", "-")
        if not _TAG.match(tag):  # also drops `*`
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if 0.0 < quality <= 1.0:
            ranked.append((-quality, position, tag))
    ranked.sort()
    return tuple(dict.fromkeys(tag for _, _, tag in ranked))


def preferences(accept_language: str | None, employee_locale: str | None) -> tuple[str, ...]:
    """The caller's locale preferences: the header's, then their own locale."""
    prefs = parse_accept_language(accept_language[:MAX_HEADER]) if accept_language else ()
    if employee_locale:
        own = employee_locale.lower()
        if own not in prefs:
            prefs = (*prefs, own)
    return prefs


def choose_locale(prefs: Sequence[str], own: str, translations: Mapping[str, Any]) -> str:
    """The locale to serve: `own` (the message's) or a key of `translations`."""
    if not translations or not prefs:
        return own
    # the message's own locale first, so that it wins ties between variants of a language
    available = {own.lower(): own}
    for locale in sorted(translations):
        available.setdefault(locale.lower(), locale)
    for pref in prefs:
        if pref in available:
            return available[pref]
        language = pref.split("-", 1)[0]
        if language in available:
            return available[language]
        for lowered, locale in available.items():
            if lowered.split("-", 1)[0] == language:
                return locale
    return own


def localize(
    prefs: Sequence[str],
    *,
    locale: str,
    title: str,
    summary: str | None,
    body: str,
    translations: Mapping[str, Any],
) -> tuple[str, str, str | None, str]:
    """(locale, title, summary, body) to serve: the message's own content (`locale`, `title`,
    `summary`, `body`) or one of its `translations`, as `choose_locale` picks."""
    served = choose_locale(prefs, locale, translations)
    if served == locale:
        return locale, title, summary, body
    content = translations[served]
    return served, content["title"], content.get("summary"), content.get("body") or ""
