"""The Executor: the one place that starts processes. Worker counts follow CPU affinity and cgroup quotas,
workers cap polars' threads, results come back in task order, no task starts a nested pool, and no code
outside pipeline/engine/ starts a process."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from pipeline.config_loader import load_config
from pipeline.engine import executor as executor_mod
from pipeline.engine.executor import LocalExecutor, SerialExecutor, available_cpus, cgroup_cpu_quota
from pipeline.errors import UserError
from tests.conftest import ROOT


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2            # 1.5 CPUs round up
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    assert cgroup_cpu_quota(tmp_path) == 3
    assert cgroup_cpu_quota(tmp_path / "absent") is None


def test_available_cpus_respects_affinity_and_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert available_cpus(tmp_path) == 6                # no quota file here
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    assert available_cpus(tmp_path) == 2                # the container's quota wins
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert available_cpus(tmp_path) == 1                # pinned to one CPU


def test_default_workers_and_small_inputs(monkeypatch):
    monkeypatch.setattr(executor_mod, "available_cpus", lambda root=None: 3)
    ex = LocalExecutor(None, min_items=100)
    assert ex.max_workers == 3
    assert ex.workers_for(99, 10) == 1                  # small input: in-process
    assert ex.workers_for(1_000, 1) == 1                # one task: in-process
    assert ex.workers_for(1_000, 2) == 2 and ex.workers_for(1_000, 50) == 3
    assert LocalExecutor(2).workers_for(10**6, 10) == 2
    assert SerialExecutor().workers_for(10**6, 10) == 1


def _slow_square(i: int) -> int:
    time.sleep(0.05 * (5 - i % 5))                      # later tasks finish first
    return i * i


def _polars_threads() -> int:
    import polars as pl

    return pl.thread_pool_size()


def _nested_workers() -> int:
    return LocalExecutor(2).workers_for(10**6, 10)


@pytest.mark.slow  # spawns two workers
def test_pool_keeps_order_caps_polars_threads_and_never_nests(monkeypatch):
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    ex = LocalExecutor(2)
    try:
        assert list(ex.map(_slow_square, [(i,) for i in range(12)], 2)) == [i * i for i in range(12)]
        threads = list(ex.map(_polars_threads, [()] * 4, 2))
        assert threads == [max(1, ex.cpus // 2)] * 4    # 2 workers x polars threads <= the CPUs
        assert list(ex.map(_nested_workers, [()] * 2, 2)) == [1, 1]
        # each worker collects cycles every GC_GEN0_THRESHOLD new containers, its imports frozen out of scans
        assert list(ex.map(_gc_state, [()] * 2, 2)) == [(executor_mod.GC_GEN0_THRESHOLD, True)] * 2
    finally:
        ex.close()
    assert "POLARS_MAX_THREADS" not in os.environ       # the parent's environment is left as it was


def _gc_state():
    import gc

    return gc.get_threshold()[0], gc.get_freeze_count() > 0


def test_in_process_map_runs_in_order():
    assert list(SerialExecutor().map(_slow_square, [(i,) for i in range(6)], 4)) == [i * i for i in range(6)]


STARTS_PROCESSES = {"multiprocessing", "subprocess", "ProcessPoolExecutor", "fork", "forkpty", "spawnv", "spawnl",
                    "system", "popen", "execv", "execve"}


def _process_starters(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in STARTS_PROCESSES]
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")[0]
            found += [f"{node.module}.{a.name}" for a in node.names
                      if mod in STARTS_PROCESSES or a.name in STARTS_PROCESSES]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in STARTS_PROCESSES:
            found.append(f"os.{node.attr}")
    return found


def test_no_process_is_started_outside_the_engine():
    engine = ROOT / "pipeline" / "engine"
    offenders = {str(p.relative_to(ROOT)): _process_starters(p) for p in (ROOT / "pipeline").rglob("*.py")
                 if engine not in p.parents}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert _process_starters(engine / "executor.py")    # the check would see one


@pytest.mark.parametrize("stage, key", [("tokens", "workers"), ("tokens", "parallel_min_examples"),
                                        ("dedup", "workers")])
def test_removed_worker_keys_point_at_execution_workers(tmp_path, stage, key):
    config = tmp_path / "c.yaml"
    config.write_text(f"inputs: [{{path: x.csv, layout: messages}}]\nstages:\n  - name: {stage}\n    {key}: 2\n"
                      "  - name: export\n")
    with pytest.raises(UserError) as e:
        load_config(config)
    assert f"'{key}' was removed" in str(e.value) and "execution.workers" in str(e.value)
    assert "stages[0]" in str(e.value)
