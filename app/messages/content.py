"""What a message says, kept per process by revision: its texts (body and translations
above all) and what an acknowledgement records of it.

The feed, the single-message view, the acknowledgement's evidence (and the e-mail) serve a
message's text in the reader's language. On PostgreSQL the body and translations are
compressed out of line (TOAST): reading them back for every feed request cost more than the
rest of the feed statement (bench/RESULTS.md). Every write to a message raises
`messages.revision`, so a copy is exact for as long as the row still has the revision it was
read at: the hot statements select (or check) the revision, and only what the cache lacks (a
new message, an edit) is read again, in one query.
"""

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, select

from app.core import sql
from app.core.direct import Direct, Prepared
from app.messages.models import Message

# ~10 KB a message with its translations (the company bench): 2,000 is ~20 MB a process, and
# more messages than any feed page shows at once
DEFAULT_MAX_ENTRIES = 2_000

_M = Message.__table__.c


@dataclass(frozen=True, slots=True)
class Content:
    """A message's content as of one revision."""

    revision: int
    locale: str
    title: str
    summary: str | None
    body: str
    translations: Mapping[str, Any]
    requires_acknowledgement: bool
    acknowledgement_text: str | None
    version: int
    acknowledgement_version: int
    quiz: Mapping[str, Any] | None  # issue 21: with its right options; never served as is
    # the fields local editions may not change (`app.editions.serve`)
    locked: Any = ()


_FIELDS = tuple(Content.__dataclass_fields__)
_LOAD = Prepared(
    lambda dialect: select(_M.id, *(_M[name] for name in _FIELDS)).where(
        sql.in_bound_list(dialect, _M.id, "ids", Uuid())
    )
)


class ContentCache:
    """Least recently used contents, at most `max_entries` messages."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, Content] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def latest(self, message_id: uuid.UUID) -> Content | None:
        """The newest copy held, whatever its revision (the caller checks it is current)."""
        return self._entries.get(message_id)

    async def contents(
        self, conn: Direct, wanted: Iterable[tuple[uuid.UUID, int]]
    ) -> dict[uuid.UUID, Content]:
        """The content of each (message id, revision), reading what is missing or older."""
        found: dict[uuid.UUID, Content] = {}
        missing: list[uuid.UUID] = []
        entries = self._entries
        for message_id, revision in wanted:
            entry = entries.get(message_id)
            if entry is not None and entry.revision >= revision:
                entries.move_to_end(message_id)
                found[message_id] = entry
            else:
                missing.append(message_id)
        if missing:
            found.update(await self._read(conn, missing))
        return found

    async def load(self, conn: Direct, message_id: uuid.UUID) -> Content | None:
        """The message's content as it is now (None when the message does not exist)."""
        return (await self._read(conn, [message_id])).get(message_id)

    async def _read(self, conn: Direct, ids: list[uuid.UUID]) -> dict[uuid.UUID, Content]:
        read = {}
        for row in await conn.fetch(_LOAD, {"ids": ids}):
            values = {name: row[name] for name in _FIELDS}
            values["translations"] = values["translations"] or {}
            values["locked"] = tuple(values["locked"] or ())
            entry = Content(**values)
            self._put(row["id"], entry)
            read[row["id"]] = entry
        return read

    def _put(self, message_id: uuid.UUID, entry: Content) -> None:
        current = self._entries.get(message_id)
        if current is not None and current.revision > entry.revision:
            return  # a concurrent request already holds a newer copy
        self._entries[message_id] = entry
        self._entries.move_to_end(message_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
