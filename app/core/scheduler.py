"""A small in-process runner for periodic database jobs (scheduled publishing, and later
webhook dispatch and reminders).

Every replica may run one: jobs claim their rows with `FOR UPDATE SKIP LOCKED` (or an advisory
lock), so running the same job in several processes splits the work instead of repeating it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sized
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import Database

logger = logging.getLogger("brandcast.scheduler")

JobFn = Callable[[AsyncSession], Awaitable[object]]
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFn


class Scheduler:
    """Runs registered jobs one after another every `interval` seconds, each in its own
    transaction; a failing job is logged and does not stop the others or the loop."""

    def __init__(self, db: Database, *, interval: float) -> None:
        self.db = db
        self.interval = interval
        self.jobs: list[Job] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, name: str, run: JobFn) -> None:
        """Register `run(session)`; its return value is logged when truthy."""
        self.jobs.append(Job(name, run))

    async def run_once(self) -> dict[str, object]:
        """One pass over every job; returns each job's result (None when it failed)."""
        results: dict[str, object] = {}
        for job in self.jobs:
            if self._stopping.is_set():
                break
            started = time.perf_counter()
            try:
                async with self.db.session_scope() as session:
                    result = await job.run(session)
            except Exception:
                logger.exception("scheduled job %s failed", job.name)
                results[job.name] = None
                continue
            results[job.name] = result
            if result:
                logger.info(
                    "scheduled job %s done",
                    job.name,
                    extra={
                        "fields": {
                            "job": job.name,
                            "result": _summary(result),
                            "seconds": round(time.perf_counter() - started, 3),
                        }
                    },
                )
        return results

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def start(self) -> None:
        if self._task is None and self.jobs:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="brandcast-scheduler")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let the job that is running finish (up to `grace` seconds) and run no other; past
        that, cancel it: a job cut off mid-transaction is rolled back and rerun next time.
        (Cancelling at once cut transactions off as they rolled back, and the pool logged the
        interrupted reset as an error with its traceback on every Ctrl-C during a pass.)"""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _summary(result: object) -> object:
    if isinstance(result, int | str):
        return result
    return len(result) if isinstance(result, Sized) else str(result)
