"""Scheduled looks prepared in worker processes while one process stores them.

Reading a pilot's observations and running the engine is most of a scheduled
evaluation's work, and it only reads. With many pilots due (PARALLEL_FROM), worker
processes prepare the looks (one per CPU this process may use, up to WORKERS_MAX), a
few pilots at a time, and the scheduler's process stores them in pilot order: it stays
the only writer.

The workers come from multiprocessing's fork server: a clean process, started once with
the evaluation code imported, that forks each worker. So a worker starts at once and
inherits nothing of the scheduler's process: no SQLite connection or lock (SQLite must
not be carried across a fork), no scheduler lock file, no thread. `start_server` starts
the server ahead. A worker opens its own connection and reads each look in one
snapshot, at a lower CPU priority than the writer and the web app (WORKER_NICENESS).
As with any multiprocessing start method but fork, a worker imports the
program's main module: a script that evaluates must keep its work under
`if __name__ == "__main__":` (the flask command and the benchmarks do).

A look reaches the writer as a `Look`, or as None when the worker could not prepare it
(the writer then prepares it itself, and so reports its error as one process would). A
worker that dies, or cannot start, breaks the pool: the looks not prepared by then are
prepared by the writer, and a warning is logged.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import date, datetime

from pilots.db import connect
from pilots.evaluation.service import Look, prepare_look

log = logging.getLogger(__name__)

# With this many due pilots or more, worker processes prepare the looks; fewer are not
# worth starting processes for. A worker takes PILOTS_PER_TASK pilots at a time.
PARALLEL_FROM = 64
WORKERS_MAX = 4
PILOTS_PER_TASK = 4
# Workers yield the CPU to the writer and to web requests: the writer then stores each
# look as it arrives instead of catching up at the end, and pages stay quick while an
# evaluation runs.
WORKER_NICENESS = 5


def worker_count(due: int, workers: int | None = None) -> int:
    """How many worker processes prepare `due` looks (1: this process prepares them)."""
    if workers is not None:
        return workers
    if due < PARALLEL_FROM:
        return 1
    return min(len(os.sched_getaffinity(0)), WORKERS_MAX)


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def start_server() -> None:
    """Start the fork server now and wait until it has imported the evaluation code."""
    process = _context().Process(target=_ready)
    process.start()
    process.join()


def _ready() -> None:
    """A worker that does nothing: it exists once the fork server is ready."""


class Pending:
    """One pilot's look on its way: `ready()` says whether waiting is over.

    `told` is shared by a run's Pendings, so a broken pool is logged once, not once per
    pilot."""

    def __init__(self, future: Future | None, index: int, told: set | None = None):
        self.future, self.index = future, index
        self.told = told if told is not None else set()

    def ready(self, within: float = 0.0) -> bool:
        """Whether the look has arrived, waiting for it up to `within` seconds."""
        if self.future is None or self.future.done():
            return True  # without `wait`, which builds a waiter for every call
        return bool(wait([self.future], timeout=within).done)

    def look(self) -> Look | None:
        """The prepared look, or None when this process must prepare it."""
        if self.future is None:
            return None
        try:
            prepared = self.future.result()[self.index]
        except BrokenProcessPool as broken:
            _stopped(self.told, broken)
            return None
        except Exception as error:  # noqa: BLE001 - e.g. a look that would not pickle
            log.warning("A worker's looks did not arrive (%s); preparing them here", error)
            return None
        return prepared


def _stopped(told: set, broken: BrokenProcessPool) -> None:
    if "stopped" not in told:
        told.add("stopped")
        log.warning("The evaluation's worker processes stopped (%s); going on alone", broken)


@contextmanager
def prepared_looks(
    db, pilot_ids: list[int], today: date, now: datetime, workers: int
) -> Iterator[Iterator[tuple[int, Pending]]]:
    """(pilot id, Pending) in pilot order, from `workers` processes (or none, if 1)."""
    path = _file_of(db)
    if workers <= 1 or not path:
        yield ((pilot_id, Pending(None, 0)) for pilot_id in pilot_ids)
        return
    with ProcessPoolExecutor(
        workers, mp_context=_context(), initializer=_open_worker, initargs=(path,)
    ) as pool:
        pending = submitted(pool, pilot_ids, today, now)
        try:
            yield iter(pending)
        finally:
            for _, waiting in pending:
                if waiting.future is not None:
                    waiting.future.cancel()


def submitted(pool, pilot_ids: list[int], today: date, now: datetime) -> list[tuple[int, Pending]]:
    """The pilots' looks handed to `pool`, PILOTS_PER_TASK at a time; once the pool is
    broken (a worker died or could not start), the rest are left to this process."""
    told: set = set()
    pending: list[tuple[int, Pending]] = []
    for first in range(0, len(pilot_ids), PILOTS_PER_TASK):
        chunk = pilot_ids[first : first + PILOTS_PER_TASK]
        future = None
        if "stopped" not in told:
            try:
                future = pool.submit(_prepare_in_worker, chunk, today, now)
            except BrokenProcessPool as broken:
                _stopped(told, broken)
        pending += [(pilot_id, Pending(future, k, told)) for k, pilot_id in enumerate(chunk)]
    return pending


def _file_of(db) -> str:
    """The database's file, or "" for one in memory."""
    return next((row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"), "")


# The worker process's own connection, opened when the process starts.
_worker_db = None


def _open_worker(path: str) -> None:
    """Open the worker's connection to the database at `path`, at WORKER_NICENESS."""
    global _worker_db
    os.nice(WORKER_NICENESS)
    _worker_db = connect(path)


def _prepare_in_worker(pilot_ids: list[int], today: date, now: datetime) -> list[Look | None]:
    """The looks of some pilots, each read in one snapshot; None for one that failed."""
    return [_prepare_one(pilot_id, today, now) for pilot_id in pilot_ids]


def _prepare_one(pilot_id: int, today: date, now: datetime) -> Look | None:
    try:
        _worker_db.conn.execute("BEGIN")  # one snapshot for the whole look
        try:
            return prepare_look(_worker_db, pilot_id, today, scheduled=True, now=now)
        finally:
            _worker_db.conn.execute("ROLLBACK")
    except Exception as error:  # noqa: BLE001 - the writer prepares it again, and reports
        log.warning("pilot %s: a worker could not prepare its look: %s", pilot_id, error)
        return None
