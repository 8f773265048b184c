"""Ids of the rows written on every request: time-ordered (UUID version 7, RFC 9562).

Audit events, outbox events and acknowledgements are written by the million and never
updated. With random (version 4) ids each insert lands on a random leaf page of the primary
key's index, which at that size is mostly outside PostgreSQL's buffers: the write reads the
page in and evicts another (bench/RESULTS.md: a tenth of an acknowledgement's database time
at 100,000 employees). A version 7 id starts with the time in milliseconds, so new rows fill
the index's last pages, which stay in memory. The other 74 bits are random: ids stay
unguessable, and the time they reveal is the row's own creation time, which it shows anyway.
"""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    """A new time-ordered id (a standard `uuid.UUID`)."""
    return uuid7()
