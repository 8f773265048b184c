"""Coalescing: concurrent requests that each run the same statement share one.

Under load, much of a small statement's database cost is the statement, not its rows:
parsing its parameters, opening the tables and indexes it touches, its statement-level
triggers and, for a write, the commit (bench/RESULTS.md: an acknowledgement cost PostgreSQL
≈ 1.3 ms alone, ≈ 0.5 ms in a statement of eight, ≈ 0.35 ms in one of sixteen). A
`Coalescer` runs such work *naturally batched*: a request that finds no batch in flight runs
its item at once, alone; requests that arrive while a batch runs wait, and the next batch
takes them all. No timer: an idle service answers as fast as before, and a busy one runs
fewer, larger statements (the acknowledgement, `app.receipts.acknowledgements`).

Each batch runs on the connection of the request that leads it (the first one in it), so a
batch needs no connection of its own and cannot wait for the pool while its requests hold
every connection. `run(conn, items)` must return one result per item, in order, and be
atomic: one statement, all or nothing. When a batch of several fails, each of its items is
run again alone, on its own request's connection, so that one bad item fails only its request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from app.core.direct import Direct
from app.core.observability import BATCHED_ITEMS, BATCHES

Item = TypeVar("Item")
Result = TypeVar("Result")

# what a waiting request is told instead of its result
_LEAD = object()  # the batch before is done: run the next one, yours first
_ALONE = object()  # the batch you were in failed: run your item on your own


class Coalescer(Generic[Item, Result]):
    """Natural batching of `run` (see the module) within one event loop, one batch at a time."""

    def __init__(
        self,
        name: str,
        run: Callable[[Direct, Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_items: int = 64,
    ) -> None:
        self._run = run
        self.max_items = max_items
        self._waiting: deque[tuple[Item, asyncio.Future[object]]] = deque()
        self._busy = False
        self._statements = BATCHES.labels(name)
        self._items = BATCHED_ITEMS.labels(name)

    async def submit(self, conn: Direct, item: Item) -> Result:
        """`item`'s result, from a batch with whichever items are waiting."""
        if self._busy:
            turn: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            self._waiting.append((item, turn))
            try:
                told = await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled() and turn.result() is _LEAD:
                    self._hand_over()  # it was this request's turn to lead: pass it on
                raise
            if told is _ALONE:
                return (await self._run(conn, [item]))[0]
            if told is not _LEAD:
                return told  # type: ignore[return-value]
        else:
            self._busy = True
        return await self._lead(conn, item)

    async def _lead(self, conn: Direct, item: Item) -> Result:
        count = min(len(self._waiting), self.max_items - 1)
        followers = [self._waiting.popleft() for _ in range(count)]
        try:
            results = await self._run(conn, [item, *(i for i, _ in followers)])
            if len(results) != 1 + len(followers):
                raise RuntimeError(f"{len(results)} results for {1 + len(followers)} items")
        except Exception:
            self._release(followers, None)
            if not followers:
                raise
            return (await self._run(conn, [item]))[0]
        except BaseException:  # cancelled mid-statement: the others run theirs alone
            self._release(followers, None)
            raise
        self._statements.inc()
        self._items.inc(len(results))
        self._release(followers, results[1:])
        return results[0]

    def _release(
        self, followers: list[tuple[Item, asyncio.Future[object]]], results: Sequence[Result] | None
    ) -> None:
        """Give the followers their results (None: tell them to run alone), then let the
        next batch start."""
        try:
            for n, (_, turn) in enumerate(followers):
                _tell(turn, _ALONE if results is None else results[n])
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """Let the first request still waiting lead the next batch (or stand idle)."""
        while self._waiting:
            _, turn = self._waiting.popleft()
            if not turn.done():  # a request cancelled while it waited has left
                turn.set_result(_LEAD)  # its item is the next batch's first
                return
        self._busy = False


def _tell(turn: asyncio.Future[object], outcome: object) -> None:
    if not turn.done():
        turn.set_result(outcome)
