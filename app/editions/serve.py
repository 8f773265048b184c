"""Which content an employee is served for a message: HQ's text or their unit's edition, then
the locale. The ONE definition, called by the feed, the single-message view, the
acknowledgement's evidence, the e-mail sender and the preview (and the digest).

- A recipient's edition is `recipients.edition_id`, set when the edition is published (or the
  message is, or the recipient joins later): the unit is matched once, by the database.
- It is served while the edition is published and not `outdated` (`SERVED`, an outer join by
  primary key on the recipient's row); otherwise HQ's text is.
- Inside an edition the locale is negotiated among the edition's own locale and translations;
  the fields HQ `locked` (and those the edition leaves out) are HQ's, in the same locale as
  far as HQ has it.
"""

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, and_, false, select
from sqlalchemy.sql.elements import ColumnElement

from app.core import sql
from app.core.direct import Direct, Prepared
from app.core.hashing import canonical_sha256
from app.editions.models import EditionStatus, MessageEdition
from app.messages.locales import choose_locale, localize

_E = MessageEdition.__table__.c
EDITIONS_TABLE = MessageEdition.__table__


def served_edition_on(edition_id: Any) -> ColumnElement[bool]:
    """The join condition of the edition a recipient is served (`edition_id`: the recipient's
    `edition_id` column): published and not outdated. Outer-join `EDITIONS_TABLE` on it and
    select `EDITION_COLUMNS`."""
    return and_(
        _E.id == edition_id,
        _E.status == EditionStatus.PUBLISHED.value,
        _E.outdated == false(),
    )


EDITION_COLUMNS = (_E.id.label("edition_id"), _E.revision.label("edition_revision"))


@dataclass(frozen=True, slots=True)
class EditionText:
    """An edition's content as of one revision."""

    id: uuid.UUID
    revision: int
    unit: str
    locale: str
    title: str | None
    summary: str | None
    body: str | None
    acknowledgement_text: str | None
    translations: Mapping[str, Any]
    local_note: str | None


@dataclass(frozen=True, slots=True)
class Served:
    """What one employee is served of a message."""

    locale: str
    title: str
    summary: str | None
    body: str
    acknowledgement_text: str | None
    local_note: str | None = None
    edition_id: uuid.UUID | None = None
    edition: str | None = None  # the edition's unit key, e.g. `country=MX`


def served_content(
    prefs: Sequence[str],
    *,
    locale: str,
    title: str,
    summary: str | None,
    body: str,
    translations: Mapping[str, Any],
    acknowledgement_text: str | None,
    locked: Sequence[str] = (),
    edition: EditionText | None = None,
) -> Served:
    """The content served: HQ's (`locale` … `acknowledgement_text`, its `translations`) in the
    best locale of `prefs`, or, with `edition`, the edition's in its best locale with HQ's
    `locked` fields."""
    hq_locale, hq_title, hq_summary, hq_body = localize(
        prefs if edition is None else (*_locale_first(edition, prefs), *prefs),
        locale=locale,
        title=title,
        summary=summary,
        body=body,
        translations=translations,
    )
    if edition is None:
        return Served(hq_locale, hq_title, hq_summary, hq_body, acknowledgement_text)
    served = choose_locale(prefs, edition.locale, edition.translations)
    own: Mapping[str, Any] = (
        {
            "title": edition.title,
            "summary": edition.summary,
            "body": edition.body,
            "acknowledgement_text": edition.acknowledgement_text,
        }
        if served == edition.locale
        else edition.translations[served]
    )
    hq = {
        "title": hq_title,
        "summary": hq_summary,
        "body": hq_body,
        "acknowledgement_text": acknowledgement_text,
    }

    def pick(name: str) -> Any:
        value = None if name in locked else own.get(name)
        return hq[name] if value is None else value

    return Served(
        locale=served,
        title=pick("title"),
        summary=pick("summary"),
        body=pick("body"),
        acknowledgement_text=pick("acknowledgement_text"),
        local_note=edition.local_note,
        edition_id=edition.id,
        edition=edition.unit,
    )


def _locale_first(edition: EditionText, prefs: Sequence[str]) -> tuple[str, ...]:
    # HQ's locked text in the locale the edition is served in, when HQ has it
    return (choose_locale(prefs, edition.locale, edition.translations).lower(),)


def evidence_sha256(served: Served) -> str:
    """The acknowledgement's content hash: SHA-256 of the canonical JSON of what was shown,
    `{"body", "locale", "title"}` for HQ's text; with an edition also `"edition"` (its unit
    key) and `"local_note"`."""
    shown: dict[str, Any] = {"body": served.body, "locale": served.locale, "title": served.title}
    if served.edition is not None:
        shown |= {"edition": served.edition, "local_note": served.local_note}
    return canonical_sha256(shown)


# -- the per-process copy of edition texts, checked by revision (like app.messages.content) --

_FIELDS = tuple(f for f in EditionText.__dataclass_fields__ if f != "id")
_LOAD = Prepared(
    lambda dialect: select(_E.id, *(_E[name] for name in _FIELDS)).where(
        sql.in_bound_list(dialect, _E.id, "ids", Uuid())
    )
)
MAX_EDITIONS = 2_000


class EditionCache:
    def __init__(self, max_entries: int = MAX_EDITIONS) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, EditionText] = OrderedDict()

    async def texts(
        self, conn: Direct, wanted: Iterable[tuple[uuid.UUID | None, int | None]]
    ) -> dict[uuid.UUID, EditionText]:
        """The text of each (edition id, revision) given (pairs without an id are skipped)."""
        found: dict[uuid.UUID, EditionText] = {}
        missing: list[uuid.UUID] = []
        for edition_id, revision in wanted:
            if edition_id is None:
                continue
            entry = self._entries.get(edition_id)
            if entry is not None and revision is not None and entry.revision >= revision:
                self._entries.move_to_end(edition_id)
                found[edition_id] = entry
            else:
                missing.append(edition_id)
        if missing:
            for row in await conn.fetch(_LOAD, {"ids": list(dict.fromkeys(missing))}):
                values = {name: row[name] for name in _FIELDS}
                values["translations"] = values["translations"] or {}
                entry = EditionText(id=row["id"], **values)
                self._entries[entry.id] = entry
                self._entries.move_to_end(entry.id)
                found[entry.id] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return found


# one per process: entries are exact for the revision they were read at
EDITION_TEXTS = EditionCache()
