"""`app.core.batching.Coalescer`: which items share a statement, and that a failure or a
cancelled request never strands the others (the acknowledgement's batches go through HTTP in
tests/me/test_acknowledgement_batches.py)."""

import asyncio

import pytest

from app.core.batching import Coalescer


class Statements:
    """A fake `run`: records each batch; while `hold` is set, a batch waits until its gate
    (`gates[n]`) opens; an item named "bad" fails every batch it is in."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.hold = asyncio.Event()

    def open_all(self) -> None:
        self.hold.clear()
        for gate in self.gates:
            gate.set()

    async def __call__(self, conn: object, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        gate = asyncio.Event()
        self.gates.append(gate)
        if self.hold.is_set():
            await gate.wait()
        if "bad" in items:
            raise RuntimeError("the statement failed")
        return [f"done {item} on {conn}" for item in items]


async def started(statements: Statements, count: int) -> None:
    for _ in range(100):  # a few turns of the loop at most
        if len(statements.batches) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} batches never started: {statements.batches}")


async def held(statements: Statements, **options) -> tuple[Coalescer, asyncio.Task]:
    """A coalescer whose first batch (item "a" on connection "c1") is running and held."""
    coalescer = Coalescer("test", statements, **options)
    statements.hold.set()
    first = asyncio.create_task(coalescer.submit("c1", "a"))
    await started(statements, 1)
    return coalescer, first


def queue(coalescer: Coalescer, *items: str, conn: str | None = None) -> list[asyncio.Task]:
    """Submit each item (on connection `c<item>` unless `conn`) while a batch runs."""
    return [asyncio.create_task(coalescer.submit(conn or f"c{i}", i)) for i in items]


async def test_items_that_arrive_during_a_batch_share_the_next_one():
    statements = Statements()
    coalescer, first = await held(statements)
    rest = queue(coalescer, "b", "c", "d")
    await asyncio.sleep(0)
    statements.open_all()

    assert await first == "done a on c1"
    # each result goes to its own request; the next batch ran on its first item's connection
    assert await asyncio.gather(*rest) == ["done b on cb", "done c on cb", "done d on cb"]
    assert statements.batches == [["a"], ["b", "c", "d"]]
    # idle again: the next item runs at once, alone
    assert await coalescer.submit("c5", "e") == "done e on c5"
    assert statements.batches[-1] == ["e"]


async def test_a_batch_holds_at_most_max_items():
    statements = Statements()
    coalescer, first = await held(statements, max_items=2)
    rest = queue(coalescer, "b", "c", "d")
    await asyncio.sleep(0)
    statements.open_all()
    await asyncio.gather(first, *rest)
    assert statements.batches == [["a"], ["b", "c"], ["d"]]


async def test_a_failed_batch_runs_each_item_alone_and_fails_only_the_bad_one():
    statements = Statements()
    coalescer, first = await held(statements)
    rest = queue(coalescer, "b", "bad", "d")
    await asyncio.sleep(0)
    statements.open_all()

    assert await first == "done a on c1"
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == "done b on cb" and results[2] == "done d on cd"
    assert isinstance(results[1], RuntimeError)
    assert statements.batches[1] == ["b", "bad", "d"]
    assert sorted(map(tuple, statements.batches[2:])) == [("b",), ("bad",), ("d",)]
    assert await coalescer.submit("c", "e") == "done e on c"  # not left busy


async def test_a_request_cancelled_while_it_waits_leaves_its_place():
    statements = Statements()
    coalescer, first = await held(statements)
    gone, kept = queue(coalescer, "gone", "kept")
    await asyncio.sleep(0)
    gone.cancel()
    statements.open_all()

    assert await first == "done a on c1"
    assert await kept == "done kept on ckept"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert statements.batches == [["a"], ["kept"]]


async def test_a_leader_cancelled_mid_statement_lets_the_others_run_alone():
    statements = Statements()
    coalescer, first = await held(statements)
    leader, follower = queue(coalescer, "b", "c")
    await asyncio.sleep(0)
    statements.gates[0].set()
    assert await first == "done a on c1"
    await started(statements, 2)  # "b" leads the batch ["b", "c"]…
    assert statements.batches[1] == ["b", "c"]
    leader.cancel()  # …and its request goes away mid-statement
    statements.open_all()

    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await follower == "done c on cc"  # told to run alone, on its own connection
    assert statements.batches[2:] == [["c"]]
    assert await coalescer.submit("c", "d") == "done d on c"


async def test_a_request_cancelled_as_its_turn_to_lead_comes_passes_it_on():
    statements = Statements()
    coalescer, first = await held(statements)
    next_leader, after = queue(coalescer, "b", "c")
    await asyncio.sleep(0)
    statements.open_all()
    await asyncio.sleep(0)  # the first batch ends and tells "b" to lead: cancel "b" before it runs
    assert first.done()
    next_leader.cancel()

    assert await after == "done c on cc"
    with pytest.raises(asyncio.CancelledError):
        await next_leader
    assert statements.batches == [["a"], ["c"]]
