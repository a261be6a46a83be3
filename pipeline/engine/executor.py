"""An ordered, bounded map over a spawn-context process pool: the one place the runner fans work out.

Results come back in input order whatever the number of workers, so output never depends on it.
Spawn (not fork) because the parent holds polars' thread pool. At most `2 × workers` tasks are in
flight, which bounds memory when tasks carry large chunks. One pool per worker count is kept for the
whole run (starting spawn workers costs ~1-2 s each time: imports, models); the runner calls
`shutdown()` when the run ends.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def worker_count(requested: int | None, n_items: int, n_tasks: int, min_items: int) -> int:
    """How many processes to use: 1 for small inputs, inside a worker, or for a single task."""
    # inside a pool worker: never start a nested pool (`daemon` is False in ProcessPoolExecutor workers,
    # so look at the parent process instead)
    if n_items < min_items or n_tasks <= 1 or multiprocessing.parent_process() is not None:
        return 1
    return max(1, min(requested or os.cpu_count() or 1, n_tasks))


def ordered_map(fn: Callable, tasks: Iterable[tuple], workers: int) -> Iterator:
    """Yield fn(*task) for each task, in order; in-process when workers == 1."""
    if workers <= 1:
        for task in tasks:
            yield fn(*task)
        return
    pool = _pool(workers)
    pending: dict = {}
    done: dict = {}
    next_out = 0
    try:
        for i, task in enumerate(tasks):
            pending[pool.submit(fn, *task)] = i
            while len(pending) >= 2 * workers:
                next_out = yield from _collect(pending, done, next_out)
        while pending:
            next_out = yield from _collect(pending, done, next_out)
    except BaseException:
        for fut in pending:
            fut.cancel()
        shutdown()  # a failed or abandoned map leaves no half-busy pool behind
        raise


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return pool


def shutdown() -> None:
    """Stop the run's worker processes (idempotent)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(pending: dict, done: dict, next_out: int):
    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
    for fut in finished:
        done[pending.pop(fut)] = fut.result()
    while next_out in done:
        yield done.pop(next_out)
        next_out += 1
    return next_out
