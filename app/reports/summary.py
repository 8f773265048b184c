"""The brand-alignment summary (`alignment_weeks`), kept exact by database triggers.

**What it holds.** Per employee and *bucket* of weeks, the sums the brand-alignment report
makes of that employee's recipient rows and pulse answers of the brand messages published
in the bucket: deliveries, read, acknowledgement requested, acknowledged (of the current
round), due, acknowledged on time, pulse responses and their sum. A bucket is `span` weeks (1, 2, 4 or 8) from a Monday (UTC), aligned
on 1970-01-05, so any run of whole weeks is a handful of buckets (`buckets`): a 90-day report
reads about four rows per employee instead of 13 (one per week) or 22 (one per delivery).
Each receipt is counted once in each of the four spans. Only messages that the report can
select count: a brand category (`BRAND_CATEGORIES`), published or archived — the rules of
`app.reports.service.message_conditions` without the period and the tag.

**How it is kept.** By triggers, so that every write path is covered by construction:
publication and late joiners (INSERT of recipient rows), feed and tracked-link reads, both
acknowledgement paths including the one-statement CTE, editions (UPDATE of recipient rows),
pulse answers given or changed (`pulse_answers`), and the message-level changes — a new acknowledgement round (`acknowledgement_version`),
archiving, a category or `requires_acknowledgement` edit, `published_at` — which add the
difference over the message's recipient rows. Deleting a message (only drafts can be, and
they count nothing) takes its share out before its rows go.

- PostgreSQL: statement-level `AFTER` triggers with transition tables; each statement appends
  one row per changed (employee, week) — the week alone, `span` 1 — with `folded = false`.
  A writer never updates a row, so publications, reads and acknowledgements never wait for
  each other here (an upsert would keep a publication's 100,000 rows locked until its
  commit, seconds during which those employees' first reads and acknowledgements would
  wait). `fold`, the scheduler's `alignment-fold` pass, adds each appended row of a past
  week into the folded row of every span's bucket that holds its week. The report reads
  the folded rows of its buckets plus the unfolded rows of its weeks, so it is exact
  before a fold too; the current week it reads from the recipient rows.
- SQLite (one writer at a time): row-level triggers add into the folded row (UPSERT).

Changing `BRAND_CATEGORIES` or which statuses count needs a migration that recreates the
triggers (`drop_sql`, `create_sql`) and rebuilds the table (`DELETE`, `backfill_sql`). One
statement that changed both a message and its recipient rows would be counted wrong (each
trigger sees the other's change already made); none does. On SQLite, a later migration
that rebuilds `recipients`, `pulse_answers` or `messages` (Alembic's batch mode copies the
table) drops their triggers: it must create them again (`create_sql`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.database import utcnow
from app.messages.models import BRAND_CATEGORIES, Status
from app.reports.models import COUNTS, alignment_weeks

EPOCH = date(1970, 1, 5)  # a Monday: buckets of every span start a whole number of spans later
SPANS = (8, 4, 2, 1)  # weeks, largest first
COUNTED_STATUSES = (Status.PUBLISHED.value, Status.ARCHIVED.value)
FOLD_BATCH = 25_000  # appended rows a pass folds: ~100,000 folded rows, ~4 s at a load of 3
_FOLD_LOCK = 0x4243_414C_4947_4E31  # "BCALIGN1"

# --- the report's side ---------------------------------------------------------------------


def monday_on_or_after(moment: datetime) -> date:
    """The first Monday 00:00 UTC at or after `moment`."""
    monday = monday_on_or_before(moment)
    return monday if at_midnight(monday) == moment else monday + timedelta(weeks=1)


def monday_on_or_before(moment: datetime) -> date:
    """The last Monday 00:00 UTC at or before `moment`."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def buckets(first: date, end: date) -> list[tuple[int, date]]:
    """The whole weeks from the Monday `first` up to the Monday `end` as the fewest aligned
    buckets, `(span, starts)`: the largest span that starts here and ends in time, repeated."""
    out: list[tuple[int, date]] = []
    week = (first - EPOCH).days // 7
    last = (end - EPOCH).days // 7
    while week < last:
        span = next(s for s in SPANS if week % s == 0 and week + s <= last)
        out.append((span, EPOCH + timedelta(weeks=week)))
        week += span
    return out


def last_whole_week(until: datetime) -> date:
    """Where the summary's weeks of a period ending at `until` end: the Monday at or before
    it, and never after the current week's (whose rows `fold` leaves for later)."""
    return min(monday_on_or_before(until), monday_on_or_before(utcnow()))


def bucket_rows(first: date, end: date) -> list[Select[Any]]:
    """The summary rows of the whole weeks `[first, end)`: one select per bucket of folded
    rows (each an index range on PostgreSQL, read from the index alone), and the weeks'
    rows not folded yet (PostgreSQL; none on SQLite)."""
    t = alignment_weeks.c
    columns = (t.employee_id, *(t[name] for name in COUNTS))
    return [
        *(
            select(*columns).where(t.folded, t.span == span, t.starts == starts)
            for span, starts in buckets(first, end)
        ),
        select(*columns).where(~t.folded, t.starts >= first, t.starts < end),
    ]


async def fold(session: AsyncSession) -> int:
    """The scheduler's pass (PostgreSQL): add the rows the triggers appended for the weeks
    before this one into the folded rows of their buckets, in one statement.

    The current week's rows wait until it is over: no report reads them (its whole weeks
    end before the current one, `last_whole_week`), and by then a week's publications,
    reads and acknowledgements of one employee fold as one row into each span, instead of
    one per write (a fold costs ~35 µs per folded row and span, measured under load). At
    most `FOLD_BATCH` appended rows a pass (a few seconds), one replica at a time; rows
    appended meanwhile wait for the next pass. SQLite's triggers fold as they write.
    Returns the rows written into the folded ones."""
    if not _SPELLING[sql.dialect_of(session)].statement_level:
        return 0
    if not await sql.try_advisory_lock(session, _FOLD_LOCK):  # another replica is folding
        return 0
    week = monday_on_or_before(utcnow())
    result = await session.execute(text(FOLD_SQL), {"week": week, "batch": FOLD_BATCH})
    return cast(CursorResult[Any], result).rowcount or 0


# --- the SQL the migration installs ----------------------------------------------------------

_COUNTS = ", ".join(COUNTS)
_CATEGORIES = ", ".join(f"'{c}'" for c in sorted(BRAND_CATEGORIES))
_STATUSES = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)
_SPANS = " UNION ALL ".join(f"SELECT {s} AS span" for s in sorted(SPANS))
_EPOCH = EPOCH.isoformat()
_RECIPIENT_COLUMNS = (
    "message_id",
    "employee_id",
    "read_at",
    "due_at",
    "acknowledged_at",
    "acknowledged_version",
)
_MESSAGE_COLUMNS = (
    "id",
    "category",
    "status",
    "published_at",
    "requires_acknowledgement",
    "acknowledgement_version",
)


@dataclass(frozen=True)
class _Spelling:
    """How one database spells the summary's SQL."""

    day: str  # days since EPOCH of the message's publication (UTC)
    starts: str  # a bucket's first day, from `c.day` and `s.span`
    true: str
    false: str
    distinct: str
    # PostgreSQL: statement-level triggers appending a week's rows, folded later; SQLite:
    # row-level triggers adding into the folded rows, with this conflict clause
    statement_level: bool
    upsert: str


_SPELLING = {
    sql.POSTGRESQL: _Spelling(
        day=f"(m.published_at AT TIME ZONE 'UTC')::date - DATE '{_EPOCH}'",
        starts=f"DATE '{_EPOCH}' + c.day / (7 * s.span) * (7 * s.span)",
        true="true",
        false="false",
        distinct="IS DISTINCT FROM",
        statement_level=True,
        upsert="",  # folded rows are only written by the backfill (into an empty table)
    ),
    sql.SQLITE: _Spelling(
        day=f"CAST(julianday(date(m.published_at)) - julianday('{_EPOCH}') AS INTEGER)",
        starts=f"date('{_EPOCH}', '+' || (c.day / (7 * s.span) * (7 * s.span)) || ' days')",
        true="1",
        false="0",
        distinct="IS NOT",
        statement_level=False,
        upsert=" ON CONFLICT (employee_id, span, starts) WHERE folded DO UPDATE SET "
        + ", ".join(f"{name} = {name} + excluded.{name}" for name in COUNTS),
    ),
}


def _row(record: str, columns: tuple[str, ...]) -> str:
    """A trigger's `NEW` or `OLD` record as a one-row table."""
    return "(SELECT " + ", ".join(f"{record}.{c} AS {c}" for c in columns) + ")"


def _contributions(dialect: str, recipients: str, messages: str, sign: int) -> str:
    """What each recipient row of a counted message adds to its employee's sums (`sign` -1:
    takes away), with its publication day. The report's rules (`app.receipts.rules`):
    acknowledged = of the current round; on time = at or before the due date."""
    asked = "m.requires_acknowledgement"
    acked = f"{asked} AND r.acknowledged_version >= m.acknowledgement_version"
    due = f"{asked} AND r.due_at IS NOT NULL"
    on_time = f"{acked} AND r.due_at IS NOT NULL AND r.acknowledged_at <= r.due_at"
    flags = ("true", "r.read_at IS NOT NULL", asked, acked, due, on_time)
    counts = ", ".join(
        f"{sign} AS {name}"
        if flag == "true"
        else f"{sign} * (CASE WHEN {flag} THEN 1 ELSE 0 END) AS {name}"
        for flag, name in zip(flags, COUNTS, strict=False)
    )
    return (
        f"SELECT r.employee_id AS employee_id, {_SPELLING[dialect].day} AS day, {counts}, "
        f"0 AS pulse_responses, 0 AS pulse_sum "
        f"FROM {recipients} AS r JOIN {messages} AS m ON m.id = r.message_id "
        f"WHERE m.category IN ({_CATEGORIES}) AND m.status IN ({_STATUSES})"
    )


def _answers(dialect: str, answers: str, messages: str, sign: int) -> str:
    """What each pulse answer to a counted message adds (or, `sign` -1, takes away)."""
    zeros = ", ".join(f"0 AS {name}" for name in COUNTS[:6])
    return (
        f"SELECT a.employee_id AS employee_id, {_SPELLING[dialect].day} AS day, {zeros}, "
        f"{sign} AS pulse_responses, {sign} * a.score AS pulse_sum "
        f"FROM {answers} AS a JOIN {messages} AS m ON m.id = a.message_id "
        f"WHERE m.category IN ({_CATEGORIES}) AND m.status IN ({_STATUSES})"
    )


def _part(dialect: str, source: str, rows: str, messages: str, sign: int) -> str:
    make = _contributions if source == "recipients" else _answers
    return make(dialect, rows, messages, sign)


def _add(dialect: str, parts: list[str], *, folded: bool) -> str:
    """One `INSERT … SELECT … GROUP BY` of the contributions `parts` per (employee, bucket):
    into the folded rows of every span (SQLite's triggers, the backfill on an empty table),
    or appended as unfolded rows of the week alone (PostgreSQL's triggers: `fold` adds them
    into every span, so a publication writes one row per recipient, not four)."""
    spelling = _SPELLING[dialect]
    sums = ", ".join(f"sum(c.{name})" for name in COUNTS)
    nonzero = " OR ".join(f"sum(c.{name}) <> 0" for name in COUNTS)
    statement = (
        f"INSERT INTO alignment_weeks (employee_id, span, starts, folded, {_COUNTS}) "
        f"SELECT c.employee_id, s.span, {spelling.starts}, "
        f"{spelling.true if folded else spelling.false}, {sums} "
        f"FROM ({' UNION ALL '.join(parts)}) AS c "
        f"CROSS JOIN ({_SPANS if folded else 'SELECT 1 AS span'}) AS s "
        f"WHERE true GROUP BY c.employee_id, s.span, {spelling.starts} HAVING {nonzero}"
    )
    return statement + spelling.upsert if folded else statement


def backfill_sql(dialect: str) -> str:
    """The summary of every recipient row there is (into an empty table)."""
    return _add(
        dialect,
        [
            _contributions(dialect, "recipients", "messages", 1),
            _answers(dialect, "pulse_answers", "messages", 1),
        ],
        folded=True,
    )


# every unfolded row is one week's: it goes into the bucket of each span that holds its week;
# the rows of the current week (`:week`) wait for it to end (no report reads them meanwhile).
# At most `:batch` rows a pass, in (week, employee) order, so that one employee's rows of a
# week fold together and a pass stays short (the scheduler runs its jobs one after another)
FOLD_SQL = (
    "WITH gone AS (DELETE FROM alignment_weeks WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM alignment_weeks WHERE NOT folded AND starts < :week "
    "ORDER BY starts, employee_id LIMIT :batch)) "
    f"RETURNING employee_id, starts - DATE '{_EPOCH}' AS day, {_COUNTS}) "
    f"INSERT INTO alignment_weeks (employee_id, span, starts, folded, {_COUNTS}) "
    f"SELECT c.employee_id, s.span, {_SPELLING[sql.POSTGRESQL].starts} AS starts, true, "
    + ", ".join(f"sum(c.{name})" for name in COUNTS)
    + f" FROM gone AS c CROSS JOIN ({_SPANS}) AS s GROUP BY c.employee_id, s.span, starts "
    "ORDER BY c.employee_id, s.span, starts "
    "ON CONFLICT (employee_id, span, starts) WHERE folded DO UPDATE SET "
    + ", ".join(f"{name} = alignment_weeks.{name} + excluded.{name}" for name in COUNTS)
)

_SOURCES = {"recipients": "recipients", "pulse_answers": "answers"}
_ANSWER_COLUMNS = ("message_id", "employee_id", "score")
_COLUMNS = {"recipients": _RECIPIENT_COLUMNS, "pulse_answers": _ANSWER_COLUMNS}


def _counted(record: str) -> str:
    return f"({record}.category IN ({_CATEGORIES}) AND {record}.status IN ({_STATUSES}))"


def _message_changed(distinct: str) -> str:
    """A message change the summary must follow: it counts before or after, and it starts or
    stops counting, or what its rows add changes (archiving a brand message changes nothing,
    nor does any change of a message that never counts)."""
    values = " OR ".join(
        f"OLD.{c} {distinct} NEW.{c}"
        for c in ("published_at", "requires_acknowledgement", "acknowledgement_version")
    )
    return (
        f"({_counted('OLD')} OR {_counted('NEW')}) "
        f"AND ({_counted('OLD')} {distinct} {_counted('NEW')} OR {values})"
    )


# a message trigger's statement: the message's rows of both sources, with NEW (+) and OLD (-)
_MESSAGE_PARTS = {
    "changed": [(t, record, sign) for t in _SOURCES for record, sign in (("NEW", 1), ("OLD", -1))],
    "deleted": [(t, "OLD", -1) for t in _SOURCES],
}


def _triggers(dialect: str) -> list[tuple[str, str, str, list[str]]]:
    """Every trigger: (name, table, event and level, the contributions its statement adds)."""
    spelling = _SPELLING[dialect]
    out = []
    for table, short in _SOURCES.items():
        if spelling.statement_level:  # over the transition tables
            new_rows, old_rows = "new_rows", "old_rows"
            refs = {
                "INSERT": "REFERENCING NEW TABLE AS new_rows",
                "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "DELETE": "REFERENCING OLD TABLE AS old_rows",
            }
            level = {event: f"{ref} FOR EACH STATEMENT" for event, ref in refs.items()}
        else:  # each row, over the NEW and OLD records
            new_rows, old_rows = _row("NEW", _COLUMNS[table]), _row("OLD", _COLUMNS[table])
            level = dict.fromkeys(("INSERT", "UPDATE", "DELETE"), "FOR EACH ROW")
        changes = {
            "INSERT": [(new_rows, 1)],
            "UPDATE": [(new_rows, 1), (old_rows, -1)],
            "DELETE": [(old_rows, -1)],
        }
        for event, rows in changes.items():
            out.append(
                (
                    f"alignment_{short}_{event.lower()}",
                    table,
                    f"AFTER {event} ON {table} {level[event]}",
                    [_part(dialect, table, r, "messages", sign) for r, sign in rows],
                )
            )
    changed = _message_changed(spelling.distinct)
    events = {
        "changed": f"AFTER UPDATE ON messages FOR EACH ROW WHEN ({changed})",
        # before its rows go (the cascade), while they can still be read
        "deleted": "BEFORE DELETE ON messages FOR EACH ROW",
    }
    for what, parts in _MESSAGE_PARTS.items():
        out.append(
            (
                f"alignment_message_{what}",
                "messages",
                events[what],
                [
                    _part(dialect, table, table, _row(record, _MESSAGE_COLUMNS), sign)
                    for table, record, sign in parts
                ],
            )
        )
    return out


def create_sql(dialect: str) -> list[str]:
    """The triggers (and on PostgreSQL their functions) that keep the summary."""
    out = []
    for name, _table, event, parts in _triggers(dialect):
        if _SPELLING[dialect].statement_level:  # PostgreSQL: a function per trigger
            insert = _add(dialect, parts, folded=False)
            returned = "OLD" if event.startswith("BEFORE") else "NULL"
            out.append(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n  {insert};\n  RETURN {returned};\nEND\n$$"
            )
            out.append(f"CREATE TRIGGER {name} {event} EXECUTE FUNCTION {name}()")
        else:
            out.append(
                f"CREATE TRIGGER {name} {event} BEGIN {_add(dialect, parts, folded=True)}; END"
            )
    return out


def drop_sql(dialect: str) -> list[str]:
    triggers = _triggers(dialect)
    if _SPELLING[dialect].statement_level:
        return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in triggers] + [
            f"DROP FUNCTION IF EXISTS {name}()" for name, *_ in triggers
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name, *_ in triggers]
