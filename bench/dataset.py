"""The company data set of `company.py`, built through the service's own code paths.

- employees: `app.employees.service.sync_employees`, in batches of 10,000, each batch in its
  own transaction (what one `POST /v1/employees/bulk` does), after validating every record
  with `EmployeeRecord` (what the request body's parsing does);
- audiences: `app.audiences.service.create_audience`;
- messages: `app.messages.service.create_message`, then `publish_message` (which resolves the
  audiences into recipient rows), one transaction each; the oldest are archived with
  `archive_message`;
- a thousand acknowledgements through `app.receipts.acknowledgements.acknowledge` (the
  one-statement path: evidence, audit row, outbox event, recipient update);
- leavers: a bulk sync that deactivates some employees after the messages went out.

The bulk of the read and acknowledgement state is set with set-based SQL instead (one
`UPDATE recipients` per message, one `INSERT … SELECT` into `acknowledgements`), with no audit
or outbox rows for those: several million requests would take hours. The same statements also
move each message's dates into the past (publication spread over the last 100 days), so that
due dates and overdue acknowledgements look like a company's. Listening likewise: reactions from
some of each message's readers, pulse answers where the message asks a pulse question (a third
do, translated), and the reaction counts the feed reads.

Everything is deterministic for a given seed.
"""

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg

from app.audiences.schemas import AudienceCreate
from app.audiences.service import create_audience
from app.core.database import Database, utcnow
from app.core.direct import direct
from app.core.principal import Principal
from app.employees.schemas import EmployeeRecord, SyncMode
from app.employees.sync import sync_employees
from app.messages.content import ContentCache
from app.messages.models import Category
from app.messages.schemas import MessageCreate
from app.messages.service import archive_message, create_message, publish_message
from app.receipts.acknowledgements import acknowledge, content_sha256
from app.reports import summary

EDITOR = Principal.system("bench-editor")
HRIS = Principal.system("bench-hris")
BATCH = 10_000
SERVICE_ACKS = 1_000  # acknowledgements made through `acknowledge()` while building
DAYS_SPAN = 100  # publications spread over this many days

# (country, weight, locales, cities): 20 countries, weights sum to 100
COUNTRIES = [
    ("US", 16, ["en-US", "es-US"], ["New York", "Chicago", "Austin", "Seattle"]),
    ("ES", 10, ["es-ES", "ca-ES"], ["Madrid", "Barcelona", "Valencia"]),
    ("MX", 9, ["es-MX"], ["Mexico City", "Guadalajara", "Monterrey"]),
    ("BR", 7, ["pt-BR"], ["São Paulo", "Rio de Janeiro"]),
    ("DE", 7, ["de-DE"], ["Berlin", "Munich", "Hamburg"]),
    ("GB", 6, ["en-GB"], ["London", "Manchester"]),
    ("FR", 6, ["fr-FR"], ["Paris", "Lyon"]),
    ("IT", 5, ["it-IT"], ["Milan", "Rome"]),
    ("AR", 4, ["es-AR"], ["Buenos Aires"]),
    ("CO", 4, ["es-CO"], ["Bogotá", "Medellín"]),
    ("CA", 4, ["en-CA", "fr-CA"], ["Toronto", "Montréal"]),
    ("IN", 4, ["en-IN", "hi-IN"], ["Bengaluru", "Mumbai"]),
    ("PL", 3, ["pl-PL"], ["Warsaw"]),
    ("NL", 3, ["nl-NL", "en-GB"], ["Amsterdam"]),
    ("PT", 3, ["pt-PT"], ["Lisbon", "Porto"]),
    ("JP", 3, ["ja-JP"], ["Tokyo", "Osaka"]),
    ("AU", 2, ["en-AU"], ["Sydney"]),
    ("CH", 2, ["de-CH", "fr-CH", "it-CH"], ["Zurich", "Geneva"]),
    ("BE", 1, ["nl-BE", "fr-BE"], ["Brussels"]),
    ("AT", 1, ["de-AT"], ["Vienna"]),
]
# (department, weight, customer-facing share, division): 12 departments, weights sum to 100
DEPARTMENTS = [
    ("Retail Stores", 26, 0.95, "Commercial"),
    ("Customer Service", 14, 0.9, "Commercial"),
    ("Sales", 12, 0.8, "Commercial"),
    ("Logistics", 10, 0.1, "Operations"),
    ("Operations", 8, 0.2, "Operations"),
    ("Engineering", 8, 0.0, "Technology"),
    ("Marketing", 5, 0.1, "Corporate"),
    ("Product", 4, 0.05, "Technology"),
    ("Finance", 4, 0.0, "Corporate"),
    ("Human Resources", 4, 0.05, "Corporate"),
    ("Legal", 2, 0.0, "Corporate"),
    ("Brand & Communications", 3, 0.1, "Corporate"),
]
TYPES = ["full_time"] * 14 + ["part_time"] * 4 + ["contractor", "intern", "temporary"]
EUROPE = ["ES", "DE", "GB", "FR", "IT", "PL", "NL", "PT", "CH", "BE", "AT"]
LATAM = ["MX", "AR", "CO", "BR"]


def employee(n: int, rng: random.Random) -> dict[str, Any]:
    """One HRIS record, as the bulk endpoint receives it."""
    country, _, locales, cities = rng.choices(COUNTRIES, weights=[c[1] for c in COUNTRIES])[0]
    department, _, facing, division = rng.choices(DEPARTMENTS, weights=[d[1] for d in DEPARTMENTS])[
        0
    ]
    city = rng.choice(cities)
    level = min(10, max(1, int(rng.gauss(3.5, 2))))
    in_store = department == "Retail Stores"
    title = (
        ("Store Manager" if level >= 6 else "Sales Associate")
        if in_store
        else f"{department} {'Lead' if level >= 6 else 'Specialist'}"
    )
    hired = date(2000, 1, 1) + timedelta(days=rng.randrange(9300))
    return {
        "external_id": f"E{n:07d}",
        "email": f"employee{n}@example.com",
        "display_name": f"Employee {n}",
        "given_name": "Employee",
        "family_name": f"No. {n}",
        "employee_number": str(100_000 + n),
        "department": department,
        "division": division,
        "location": f"{city} {'Store ' + str(rng.randrange(1, 25)) if in_store else 'Office'}",
        "country": country,
        "job_title": title,
        "job_level": level,
        "manager_external_id": f"E{n // 12:07d}",
        "employment_type": rng.choice(TYPES),
        "customer_facing": rng.random() < facing,
        "hire_date": hired.isoformat(),
        "locale": rng.choice(locales),
        "attributes": {
            "cost_center": f"{4000 + rng.randrange(300)}",
            "shift": rng.choice(["day", "day", "day", "evening", "night"]),
            "union_member": rng.random() < 0.18,
        },
    }


def employees(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [employee(n, rng) for n in range(1, count + 1)]


def _eq(attribute: str, value: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": "eq", "value": value}


def _in(attribute: str, values: list[Any]) -> dict[str, Any]:
    return {"attribute": attribute, "op": "in", "value": values}


def audience_definitions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """40 audiences, from everyone down to about a thousand people."""
    de_ids = [r["external_id"] for r in records if r["country"] == "DE"][:1000]
    es_ids = [r["external_id"] for r in records if r["country"] == "ES" and r["customer_facing"]]
    out: list[dict[str, Any]] = [{"name": "Everyone", "rule": {"all": []}}]
    out += [{"name": d[0], "rule": _eq("department", d[0])} for d in DEPARTMENTS]
    out += [
        {"name": "United States", "rule": _eq("country", "US")},
        {"name": "Spain", "rule": _eq("country", "ES")},
        {"name": "Mexico", "rule": _eq("country", "MX")},
        {"name": "Germany", "rule": _eq("country", "DE")},
        {"name": "Brazil", "rule": _eq("country", "BR")},
        {"name": "Latin America", "rule": _in("country", LATAM)},
        {"name": "DACH", "rule": _in("country", ["DE", "AT", "CH"])},
        {"name": "Europe", "rule": _in("country", EUROPE)},
        {"name": "North America", "rule": _in("country", ["US", "CA", "MX"])},
        {"name": "Asia-Pacific", "rule": _in("country", ["IN", "JP", "AU"])},
        {"name": "Customer-facing staff", "rule": _eq("customer_facing", True)},
        {
            "name": "Frontline ES/MX/AR hired before 2025",
            "rule": {
                "all": [
                    _eq("customer_facing", True),
                    _in("country", ["ES", "MX", "AR"]),
                    {"attribute": "hire_date", "op": "lt", "value": "2025-01-01"},
                ]
            },
            "include_external_ids": de_ids,
            "exclude_external_ids": es_ids[:100],
        },
        {"name": "People leaders", "rule": {"attribute": "job_level", "op": "gte", "value": 6}},
        {
            "name": "Hired in the last three years",
            "rule": {"attribute": "hire_date", "op": "gte", "value": "-P1095D"},
        },
        {
            "name": "Part-time and contractors",
            "rule": _in("employment_type", ["part_time", "contractor"]),
        },
        {
            "name": "Spanish speakers",
            "rule": {"attribute": "locale", "op": "starts_with", "value": "es"},
        },
        {
            "name": "Retail stores in Europe",
            "rule": {"all": [_eq("department", "Retail Stores"), _in("country", EUROPE)]},
        },
        {
            "name": "Customer service in the Americas",
            "rule": {
                "all": [_eq("department", "Customer Service"), _in("country", [*LATAM, "US", "CA"])]
            },
        },
        {"name": "Technology", "rule": _eq("division", "Technology")},
        {"name": "Union members", "rule": _eq("attributes.union_member", True)},
        {"name": "Night shift", "rule": _eq("attributes.shift", "night")},
        {
            "name": "Cost centres 41xx",
            "rule": {"attribute": "attributes.cost_center", "op": "starts_with", "value": "41"},
        },
        {
            "name": "Store managers",
            "rule": {
                "all": [_eq("department", "Retail Stores"), _eq("job_title", "Store Manager")]
            },
        },
        {"name": "Corporate functions", "rule": _eq("division", "Corporate")},
        {"name": "Outside the United States", "rule": {"not": _eq("country", "US")}},
        {
            "name": "Interns and temporary staff",
            "rule": _in("employment_type", ["intern", "temporary"]),
        },
        {
            "name": "Sales leadership",
            "rule": {
                "all": [
                    _eq("department", "Sales"),
                    {"attribute": "job_level", "op": "gte", "value": 5},
                ]
            },
        },
    ]
    return out


TRANSLATION_LOCALES = ["es", "es-MX", "pt-BR", "de", "fr", "it", "pl", "nl", "ja", "en-GB"]
CATEGORIES = list(Category)
WORDS = [
    "brand",
    "promise",
    "customer",
    "store",
    "team",
    "service",
    "quality",
    "welcome",
    "policy",
    "safety",
    "launch",
    "season",
    "campaign",
    "guideline",
    "value",
    "trust",
    "care",
    "every",
    "visit",
    "greet",
    "listen",
    "help",
    "thank",
    "improve",
    "share",
    "together",
    "week",
    "update",
    "change",
    "reminder",
    "training",
    "schedule",
    "shift",
    "clients",
    "experience",
]


def _markdown(rng: random.Random, paragraphs: int, lang: str) -> str:
    parts = [f"## {lang.upper()} · {' '.join(rng.choices(WORDS, k=4)).capitalize()}"]
    for _ in range(paragraphs):
        sentence = " ".join(rng.choices(WORDS, k=rng.randrange(40, 90)))
        parts.append(f"{sentence.capitalize()}.")
    parts.append("- " + "\n- ".join(" ".join(rng.choices(WORDS, k=6)) for _ in range(3)))
    return "\n\n".join(parts)


def message_data(i: int, audience_ids: list[uuid.UUID], rng: random.Random) -> dict[str, Any]:
    """The `MessageCreate` body of message number `i` (0 = oldest)."""
    category = CATEGORIES[i % len(CATEGORIES)]
    asks = category in (Category.POLICY, Category.BRAND_PROMISE, Category.VALUES, Category.SERVICE)
    paragraphs = rng.randrange(2, 6)
    translations = {
        loc: {
            "title": f"[{loc}] Message {i}: {' '.join(rng.choices(WORDS, k=4))}",
            "summary": " ".join(rng.choices(WORDS, k=14)),
            "body": _markdown(rng, paragraphs, loc),
        }
        for loc in rng.sample(TRANSLATION_LOCALES, rng.randrange(2, 8))
    }
    pulse = i % 3 == 0  # a third ask a pulse question, in every locale they speak
    if pulse:
        for loc, content in translations.items():
            content["pulse_question"] = f"[{loc}] How well could you explain message {i}?"
    return {
        "category": category.value,
        "audience_ids": [str(a) for a in audience_ids],
        "title": f"Message {i}: {' '.join(rng.choices(WORDS, k=5))}",
        "summary": " ".join(rng.choices(WORDS, k=16)),
        "body": _markdown(rng, paragraphs, "en"),
        "locale": "en",
        "translations": translations,
        "priority": "important" if i % 10 == 0 else "normal",
        "tags": rng.sample(["brand", "stores", "policy", "launch", "safety", "people"], 2),
        "requires_acknowledgement": asks,
        "acknowledgement_text": "I have read and understood this." if asks else None,
        "acknowledge_within_days": rng.choice([7, 14, 30]) if asks else None,
        "expires_at": (utcnow() + timedelta(days=60)).isoformat() if i % 10 == 3 else None,
        "pulse_question": f"How well could you explain message {i} to a colleague?"
        if pulse
        else None,
    }


async def add_listening(raw: asyncpg.Connection, message_id: uuid.UUID, i: int, *, pulse: bool):
    """Reactions from about 12% of the message's readers, pulse answers from about 30% of them
    when it asks a pulse question, and the reaction counts the feed reads."""
    await raw.execute(REACTIONS_SQL, message_id, i, 120)
    if pulse:
        await raw.execute(PULSE_SQL, message_id, i, 300)
    await raw.execute(REACTION_COUNTS_SQL, message_id)


@dataclass
class BuildReport:
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    audiences: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Moves one message's recipients into the past with it and marks a deterministic share of them
# read (and, for messages that ask, acknowledged): one statement per message, over its primary
# key. Every row moves: each carries its message's `published_at`, the feed's order.
RECIPIENT_STATE_SQL = """
UPDATE recipients AS r
SET targeted_at = r.targeted_at - $2::interval,
    published_at = r.published_at - $2::interval,
    due_at = r.due_at - $2::interval,
    read_at = CASE WHEN {h} < $3 THEN
        least(now(), r.targeted_at - $2::interval + ({h} % 97) * interval '1 hour') END,
    acknowledged_at = CASE WHEN {h} < $4 THEN
        least(now(), r.targeted_at - $2::interval + ({h} % 97 + 1) * interval '1 hour') END,
    acknowledged_version = CASE WHEN {h} < $4 THEN 1 END
WHERE r.message_id = $1
""".format(h="(hashtextextended(r.employee_id::text, $5) & 1023)")
ACKS_SQL = """
INSERT INTO acknowledgements (id, message_id, employee_id, acknowledgement_version, version,
    statement, locale, content_sha256, acknowledged_at)
SELECT gen_random_uuid(), r.message_id, r.employee_id, 1, 1, $2, 'en', $3, r.acknowledged_at
FROM recipients AS r WHERE r.message_id = $1 AND r.acknowledged_version IS NOT NULL
"""
# Listening, as set-based SQL like the read state: a deterministic share of each message's
# readers react (one of the five kinds) and, where the message asks one, answer its pulse
# question; the reaction counts the feed shows are then counted from the reactions.
REACTIONS_SQL = """
INSERT INTO reactions (message_id, employee_id, reaction, reacted_at)
SELECT r.message_id, r.employee_id,
    (ARRAY['like', 'like', 'love', 'insightful', 'celebrate', 'concerned'])[{h} % 6 + 1],
    r.read_at
FROM recipients AS r WHERE r.message_id = $1 AND r.read_at IS NOT NULL AND {h} < $3
""".format(h="(hashtextextended(r.employee_id::text, $2 + 7919) & 1023)")
PULSE_SQL = """
INSERT INTO pulse_answers (message_id, employee_id, score, answered_at)
SELECT r.message_id, r.employee_id, least(5, 1 + ({h} % 7)), r.read_at
FROM recipients AS r WHERE r.message_id = $1 AND r.read_at IS NOT NULL AND {h} < $3
""".format(h="(hashtextextended(r.employee_id::text, $2 + 104729) & 1023)")
REACTION_COUNTS_SQL = """
INSERT INTO message_reaction_counts (message_id, reaction, count)
SELECT message_id, reaction, count(*) FROM reactions WHERE message_id = $1
GROUP BY message_id, reaction
"""
BACKDATE_MESSAGE_SQL = """
UPDATE messages SET published_at = published_at - $2::interval,
    publish_at = publish_at - $2::interval, created_at = created_at - $2::interval,
    updated_at = updated_at - $2::interval,
    expires_at = CASE WHEN expires_at IS NOT NULL THEN now() + interval '60 days' END
WHERE id = $1
"""


async def build(
    db: Database,
    raw: asyncpg.Connection,
    *,
    employee_count: int,
    message_count: int,
    seed: int,
    say: Callable[[str], None],
) -> BuildReport:
    """Build the data set into the (migrated, empty) database behind `db` and `raw`."""
    report = BuildReport()
    rng = random.Random(seed)

    # -- employees: 10 calls of 10,000, validated like request bodies ---------------------
    started = time.perf_counter()
    records = employees(employee_count, seed)
    report.seconds["generate employee records"] = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        batch = [EmployeeRecord.model_validate(r) for r in records[start : start + BATCH]]
        async with db.session_scope() as session:
            counts = await sync_employees(session, HRIS, records=batch, mode=SyncMode.UPSERT)
        say(f"  employees {start + len(batch):>7,}/{len(records):,}  {counts.model_dump()}")
    report.seconds["bulk sync (validate + sync_employees)"] = time.perf_counter() - started
    report.counts["employees"] = len(records)

    # -- audiences ---------------------------------------------------------------------------
    started = time.perf_counter()
    audiences: list[tuple[uuid.UUID, str, int]] = []
    for definition in audience_definitions(records):
        async with db.session_scope() as session:
            out = await create_audience(
                session, EDITOR, data=AudienceCreate.model_validate(definition)
            )
        audiences.append((out.id, out.name, out.member_count))
    report.seconds["audiences"] = time.perf_counter() - started
    report.audiences = [(name, count) for _, name, count in audiences]
    report.counts["audiences"] = len(audiences)
    sizes = sorted(count for *_, count in audiences)
    say(f"  {len(audiences)} audiences, {sizes[0]:,} to {sizes[-1]:,} members")

    # -- messages: create + publish, then move into the past and set read/ack state -------
    everyone = audiences[0][0]
    others = [a[0] for a in audiences[1:]]
    started = time.perf_counter()
    publish_seconds = state_seconds = 0.0
    total_recipients = 0
    message_ids: list[uuid.UUID] = []
    for i in range(message_count):
        if i % 30 == 7:
            targets = [everyone]
        elif i % 9 == 4:  # two audiences: their union, each employee once
            targets = [others[i % len(others)], others[(i * 7 + 3) % len(others)]]
        else:
            targets = [others[i % len(others)]]
        data = MessageCreate.model_validate(message_data(i, targets, rng))
        t0 = time.perf_counter()
        async with db.session_scope() as session:
            draft = await create_message(session, EDITOR, data=data)
            published = await publish_message(session, EDITOR, message_id=draft.id)
        publish_seconds += time.perf_counter() - t0
        message_ids.append(draft.id)
        total_recipients += published.recipient_count

        t0 = time.perf_counter()
        age = (message_count - 1 - i) / max(1, message_count - 1)  # 1 = oldest, 0 = newest
        shift = timedelta(days=DAYS_SPAN * age, hours=1)
        read_share = 0.35 + 0.55 * min(1.0, age * 3)  # fresh messages are read less
        ack_share = (
            read_share * (0.85 if age > 0.1 else 0.5) if data.requires_acknowledgement else 0
        )
        async with raw.transaction():
            await raw.execute(BACKDATE_MESSAGE_SQL, draft.id, shift)
            await raw.execute(
                RECIPIENT_STATE_SQL,
                draft.id,
                shift,
                int(read_share * 1024),
                int(ack_share * 1024),
                i,
            )
            if data.requires_acknowledgement:
                digest = content_sha256(title=data.title, body=data.body, locale="en")
                await raw.execute(ACKS_SQL, draft.id, data.acknowledgement_text, digest)
            await add_listening(raw, draft.id, i, pulse=data.pulse_question is not None)
        state_seconds += time.perf_counter() - t0
        if (i + 1) % 10 == 0 or i + 1 == message_count:
            elapsed = time.perf_counter() - started
            say(
                f"  messages {i + 1:>3}/{message_count}  recipients {total_recipients:>9,}  "
                f"publish {publish_seconds:6.1f} s  read/ack SQL {state_seconds:6.1f} s  "
                f"({elapsed:.0f} s)"
            )
    report.seconds["messages: create_message + publish_message"] = publish_seconds
    report.seconds["messages: backdate + read/ack state (SQL)"] = state_seconds
    report.counts["messages"] = message_count
    report.counts["recipients"] = total_recipients

    # -- the oldest tenth is archived ------------------------------------------------------
    started = time.perf_counter()
    for message_id in message_ids[: message_count // 10]:
        async with db.session_scope() as session:
            await archive_message(session, EDITOR, message_id=message_id)
    report.seconds["archive the oldest tenth"] = time.perf_counter() - started
    report.counts["archived"] = message_count // 10

    # -- some acknowledgements through the service ----------------------------------------
    started = time.perf_counter()
    pending = await raw.fetch(
        """
        SELECT r.message_id, r.employee_id, e.external_id, e.display_name
        FROM recipients r JOIN messages m ON m.id = r.message_id
        JOIN employees e ON e.id = r.employee_id
        WHERE m.status = 'published' AND m.requires_acknowledgement
          AND r.acknowledged_version IS NULL AND e.active
        ORDER BY hashtextextended(r.employee_id::text || r.message_id::text, $1)
        LIMIT $2
        """,
        seed,
        SERVICE_ACKS,
    )
    contents = ContentCache()
    for row in pending:
        principal = Principal(
            kind="employee",
            id=str(row["employee_id"]),
            name=row["display_name"],
            employee_id=row["employee_id"],
            external_id=row["external_id"],
        )
        async with direct(db, write=True) as conn:
            await acknowledge(
                conn, principal, message_id=row["message_id"], cache=contents, prefs=("en",)
            )
    report.seconds[f"acknowledge() x {len(pending):,} (service)"] = time.perf_counter() - started

    # -- leavers: deactivated after the messages went out ----------------------------------
    started = time.perf_counter()
    leavers = [{**r, "active": False} for r in records[:: max(1, len(records) // 500)][:500]]
    async with db.session_scope() as session:
        await sync_employees(
            session,
            HRIS,
            records=[EmployeeRecord.model_validate(r) for r in leavers],
            mode=SyncMode.UPSERT,
        )
    report.seconds["deactivate 500 leavers (sync_employees)"] = time.perf_counter() - started
    report.counts["leavers"] = len(leavers)

    started = time.perf_counter()
    say("  alignment summary, folded …")
    await fold_summary(raw)
    report.seconds["alignment summary, folded"] = time.perf_counter() - started

    started = time.perf_counter()
    say("  VACUUM ANALYZE …")
    await raw.execute("VACUUM (ANALYZE)")
    report.seconds["VACUUM ANALYZE"] = time.perf_counter() - started
    report.counts["acknowledgements"] = await raw.fetchval("SELECT count(*) FROM acknowledgements")
    report.counts["read"] = await raw.fetchval(
        "SELECT count(*) FROM recipients WHERE read_at IS NOT NULL"
    )
    report.counts["reactions"] = await raw.fetchval("SELECT count(*) FROM reactions")
    report.counts["pulse answers"] = await raw.fetchval("SELECT count(*) FROM pulse_answers")
    report.notes.append(json.dumps({"seed": seed}))
    return report


async def fold_summary(conn: asyncpg.Connection) -> None:
    """The brand-alignment summary as months of service leave it: folded.

    The triggers appended a row for each write of the build (9.6 million at 100,000
    employees). In service the scheduler's `alignment-fold` pass folds them as the weeks go
    by, 25,000 a pass; a data set gets months of writes in minutes, so its summary is
    rebuilt folded by the migration's backfill (the same figures)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM alignment_weeks")
        await conn.execute(summary.backfill_sql("postgresql"))
