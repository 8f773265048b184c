"""The per-message reaction counts stay equal to a COUNT over the reactions, also under
concurrent reactions, replacements and removals."""

import asyncio
import random
import uuid

import pytest
from sqlalchemy import func, select

from app.core.principal import Principal
from app.feedback.models import MessageReactionCount, Reaction, ReactionKind
from app.feedback.service import remove_reaction, set_reaction

KINDS = ["like", "love", "insightful", "celebrate", "concerned"]


async def _counted(db, message_id: str) -> dict[str, int]:
    """What the counts table says, without zero rows."""
    async with db() as s:
        rows = await s.execute(
            select(MessageReactionCount.reaction, MessageReactionCount.count).where(
                MessageReactionCount.message_id == uuid.UUID(message_id),
                MessageReactionCount.count > 0,
            )
        )
        return dict(rows.all())


async def _recounted(db, message_id: str) -> dict[str, int]:
    """The truth: a COUNT over the reactions."""
    async with db() as s:
        rows = await s.execute(
            select(Reaction.reaction, func.count())
            .where(Reaction.message_id == uuid.UUID(message_id))
            .group_by(Reaction.reaction)
        )
        return dict(rows.all())


async def _assert_consistent(db, as_employee, message_id: str, who: str) -> dict[str, int]:
    truth = await _recounted(db, message_id)
    assert await _counted(db, message_id) == truth
    # what the feed shows, and the communications side's figures, agree with it
    item = (await as_employee(who).get(f"/v1/me/messages/{message_id}")).json()
    assert item["reactions"] == {
        "total": sum(truth.values()),
        **{k: truth.get(k, 0) for k in KINDS},
    }
    return truth


async def test_counts_follow_set_replace_and_remove(people, as_employee, published, db):
    await people("E-1", "E-2")
    message_id = await published()
    ana, bo = as_employee("E-1"), as_employee("E-2")
    url = f"/v1/me/messages/{message_id}/reaction"

    steps = [
        (ana, "like", {"like": 1}),
        (ana, "like", {"like": 1}),  # the same again: counted once
        (bo, "like", {"like": 2}),
        (ana, "love", {"like": 1, "love": 1}),  # replaced: one moves
        (bo, None, {"love": 1}),  # removed
        (bo, None, {"love": 1}),  # nothing to remove: nothing changes
        (ana, None, {}),
        (ana, "concerned", {"concerned": 1}),
    ]
    for client, reaction, expected in steps:
        if reaction is None:
            assert (await client.delete(url)).status_code == 204
        else:
            r = await client.put(url, json={"reaction": reaction})
            assert r.status_code == 200, r.text
        assert await _assert_consistent(db, as_employee, message_id, "E-1") == expected
    # zero rows may stay behind; never a negative one
    async with db() as s:
        counts = (await s.execute(select(MessageReactionCount.count))).scalars().all()
    assert min(counts) == 0 and sum(counts) == 1


async def test_counts_stay_right_under_concurrent_reactions(people, as_employee, published, db):
    names = [f"E-{i}" for i in range(12)]
    await people(*names)
    message_id = await published()
    url = f"/v1/me/messages/{message_id}/reaction"
    rng = random.Random(11)

    async def put(who: str, reaction: str) -> None:
        r = await as_employee(who).put(url, json={"reaction": reaction})
        assert r.status_code == 200, r.text

    async def remove(who: str) -> None:
        assert (await as_employee(who).delete(url)).status_code == 204

    # everyone reacts at once
    await asyncio.gather(*(put(n, rng.choice(KINDS)) for n in names))
    truth = await _assert_consistent(db, as_employee, message_id, names[0])
    assert sum(truth.values()) == len(names)

    # opposite replacements at once (like <-> love): the count rows are locked in one order
    half = len(names) // 2
    await asyncio.gather(*(put(n, "like") for n in names[:half]))
    await asyncio.gather(*(put(n, "love") for n in names[half:]))
    await asyncio.gather(
        *(put(n, "love") for n in names[:half]), *(put(n, "like") for n in names[half:])
    )
    assert await _assert_consistent(db, as_employee, message_id, names[0]) == {
        "love": half,
        "like": len(names) - half,
    }

    # a mix of replacements, removals, repeats, and the same employee several times at once
    ops = []
    for _ in range(40):
        who = rng.choice(names)
        ops.append(remove(who) if rng.random() < 0.3 else put(who, rng.choice(KINDS)))
    await asyncio.gather(*ops)
    await _assert_consistent(db, as_employee, message_id, names[0])

    # everyone removes theirs, some twice at once
    await asyncio.gather(*(remove(n) for n in names), *(remove(n) for n in names[:4]))
    assert await _assert_consistent(db, as_employee, message_id, names[0]) == {}


class _Abort(Exception):
    pass


async def test_counts_belong_to_the_transaction_of_the_reaction(people, published, db):
    """A reaction change whose transaction rolls back leaves its count unchanged too."""
    [ana] = await people("E-1")
    message_id = uuid.UUID(await published())
    caller = Principal(kind="employee", id="E-1", name="E-1", employee_id=ana, external_id="E-1")
    async with db() as s, s.begin():
        await set_reaction(s, caller, message_id=message_id, reaction=ReactionKind.LIKE)
    with pytest.raises(_Abort):
        async with db() as s, s.begin():
            await set_reaction(s, caller, message_id=message_id, reaction=ReactionKind.LOVE)
            await remove_reaction(s, caller, message_id=message_id)
            raise _Abort
    assert await _counted(db, str(message_id)) == {"like": 1}
    assert await _recounted(db, str(message_id)) == {"like": 1}
