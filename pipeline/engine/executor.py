"""The Executor: the one place in chatprep that starts processes.

Every fan-out of the run goes through an `Executor`: the per-part stage segments, dedup's fingerprint
features, the messages layout's conversion tasks. A task is a module-level function and picklable
arguments; it reads its own input (a Parquet part's path, or a small frame), writes its own outputs, and
returns only small results (counts, facts, problems). Results come back in task order whatever the number
of workers, so outputs never depend on the backend or the worker count.

`LocalExecutor` runs tasks in a spawn-context process pool on this machine (spawn, not fork: the parent
holds polars' thread pool), or in-process when the work is small. `RayExecutor`
(pipeline/engine/ray_executor.py, `execution.backend: ray`) implements the same protocol with Ray tasks; no stage
changes.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

CGROUP_ROOT = Path("/sys/fs/cgroup")


class Executor(Protocol):
    def workers_for(self, n_items: int, n_tasks: int) -> int:
        """How many workers `map` would use for `n_tasks` tasks over `n_items` items (1 = in-process)."""

    def map(self, fn: Callable, tasks: Iterable[tuple], workers: int) -> Iterator:
        """Yield fn(*task) for each task, in task order, on at most `workers` workers."""

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def shared(self, factory: Callable, *args, **kwargs):
        """One object of `factory(*args, **kwargs)` that every task and thread of the run reaches (moderation's
        rate budget): the object itself here, an actor behind a proxy with the same methods on Ray."""


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return max(1, min(cpus, quota) if quota else cpus)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> int | None:
    """The CPU quota in whole CPUs (rounded up), from cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us` /
    `cpu.cfs_period_us`; None when there is no quota or it cannot be read."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
        q, p = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if q.is_file() and p.is_file():
            quota_us, period_us = int(q.read_text()), int(p.read_text())
            return None if quota_us <= 0 or period_us <= 0 else max(1, math.ceil(quota_us / period_us))
    except (OSError, ValueError):
        return None
    return None


GC_GEN0_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """A worker's start: the objects of its imports frozen out of the cycle collector's scans, and a
    collection every 50,000 new containers instead of 700. Tasks parse examples into many short-lived
    dicts and lists (freed by reference counting, not by the collector), which otherwise set off a
    collection every few examples: 5-12 % of pii's, validate's and language's CPU at 100k real
    conversations (bench/bench_stages.py with and without; outputs identical)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def in_worker() -> bool:
    """True inside a pool worker: a task never starts a nested pool (`daemon` is False in
    ProcessPoolExecutor workers, so look at the parent process instead)."""
    return multiprocessing.parent_process() is not None


class LocalExecutor:
    """Tasks in a spawn-context process pool on this machine, started once and reused by every step.

    `workers` (None = every CPU this process may use) caps the pool; inputs of fewer than `min_items`
    items run in-process (starting spawn workers costs ~1-2 s). Each worker caps polars' thread pool at
    its share of the CPUs, so N workers × polars threads do not oversubscribe the machine. At most
    `2 × workers` tasks are in flight, which bounds memory when tasks carry frames."""

    def __init__(self, workers: int | None = None, min_items: int = 0):
        self.cpus = available_cpus()
        self.max_workers = workers or self.cpus
        self.min_items = min_items
        self._pools: dict[int, ProcessPoolExecutor] = {}

    @classmethod
    def from_config(cls, execution) -> LocalExecutor:
        """From the config's `execution:` block (schemas.config.ExecutionConfig)."""
        return cls(execution.workers, execution.parallel_min_examples)

    def workers_for(self, n_items: int, n_tasks: int) -> int:
        if n_items < self.min_items or n_tasks <= 1 or in_worker():
            return 1
        return max(1, min(self.max_workers, n_tasks))

    def polars_threads(self, workers: int) -> int:
        """Threads per worker for polars: the user's POLARS_MAX_THREADS if set, else this worker's share."""
        return int(os.environ.get("POLARS_MAX_THREADS") or 0) or max(1, self.cpus // workers)

    def map(self, fn: Callable, tasks: Iterable[tuple], workers: int) -> Iterator:
        if workers <= 1:
            for task in tasks:
                yield fn(*task)
            return
        pool = self._pool(workers)
        threads = str(self.polars_threads(workers))
        pending: dict = {}
        done: dict = {}
        next_out = 0
        try:
            for i, task in enumerate(tasks):
                with _environment(POLARS_MAX_THREADS=threads):  # a worker spawned by this submit inherits it
                    pending[pool.submit(fn, *task)] = i
                while len(pending) >= 2 * workers:
                    next_out = yield from _collect(pending, done, next_out)
            while pending:
                next_out = yield from _collect(pending, done, next_out)
        except BaseException:
            for fut in pending:
                fut.cancel()
            self.close()  # a failed or abandoned map leaves no half-busy pool behind
            raise

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        pool = self._pools.get(workers)
        if pool is None:
            pool = self._pools[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                              initializer=tune_garbage_collector)
        return pool

    def shared(self, factory: Callable, *args, **kwargs):
        return factory(*args, **kwargs)  # the callers are threads of this process

    def close(self) -> None:
        while self._pools:
            _, pool = self._pools.popitem()
            pool.shutdown(wait=True, cancel_futures=True)


class SerialExecutor(LocalExecutor):
    """Every task in this process: for stages run directly (tests, benchmarks) and tiny inputs."""

    def __init__(self):
        super().__init__(workers=1)

    def workers_for(self, n_items: int, n_tasks: int) -> int:
        return 1


@contextmanager
def _environment(**values: str):
    """Set environment variables for processes started inside the block (spawned workers start inside
    `submit`): a worker imports polars while it starts, before any initializer could run, and polars
    sizes its thread pool from POLARS_MAX_THREADS at that moment."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _collect(pending: dict, done: dict, next_out: int):
    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
    for fut in finished:
        done[pending.pop(fut)] = fut.result()
    while next_out in done:
        yield done.pop(next_out)
        next_out += 1
    return next_out
