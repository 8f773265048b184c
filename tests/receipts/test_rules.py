"""One definition of overdue: at the due date itself the report, the recipients list and the
overdue event all say "not yet"; a moment later all three say "overdue"."""

from datetime import timedelta

from sqlalchemy import select

from app.receipts import rules
from app.receipts.reminders import emit_due_reminders
from app.receipts.reports import _recipients as recipients_in_state
from app.receipts.reports import message_facts, stats_statement
from app.receipts.schemas import RecipientState
from app.reports.aggregates import GroupBy
from app.webhooks.models import OutboxEvent
from tests.webhooks.test_reminders import DUE, add_message, add_recipients

JUST_AFTER = DUE + timedelta(microseconds=1)


async def _figures(db, message_id, now):
    async with db() as s:
        facts = await message_facts(s, None, message_id=message_id)
        total = (await s.execute(stats_statement(facts, now))).one()
        grouped = (await s.execute(stats_statement(facts, now, GroupBy.COUNTRY))).all()
        # the statement behind `GET …/recipients?state=overdue`
        listed = (await s.execute(recipients_in_state(facts, RecipientState.OVERDUE, now))).all()
    return total.overdue, sum(g.overdue for g in grouped), len(listed)


async def _overdue_events(db, now) -> int:
    async with db() as s, s.begin():
        await emit_due_reminders(s, now=now)
    async with db() as s:
        rows = await s.execute(
            select(OutboxEvent.data).where(OutboxEvent.type == "acknowledgement.overdue")
        )
        return sum(data["pending"] for (data,) in rows)


async def test_report_list_and_event_agree_at_the_due_date(db):
    message_id = await add_message(db)
    await add_recipients(db, message_id, 3, due_at=DUE, acknowledged=1)

    assert await _figures(db, message_id, DUE) == (0, 0, 0)
    assert await _overdue_events(db, DUE) == 0

    assert await _figures(db, message_id, JUST_AFTER) == (2, 2, 2)
    assert await _overdue_events(db, JUST_AFTER) == 2


def test_python_twins_match_the_sql_rules():
    assert not rules.is_past_due(DUE, DUE) and rules.is_past_due(DUE, JUST_AFTER)
    assert not rules.is_past_due(None, JUST_AFTER)
    assert rules.is_acknowledged(2, 2) and rules.is_acknowledged(3, 2)
    assert not rules.is_acknowledged(1, 2) and not rules.is_acknowledged(None, 1)
    assert rules.is_live("published", None, DUE) and not rules.is_live("archived", None, DUE)
    assert not rules.is_live("published", DUE, DUE) and rules.is_live("published", JUST_AFTER, DUE)
