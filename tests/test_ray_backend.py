"""execution.backend: ray — tasks on a real local Ray instance (one per test session, 2 CPUs: `ray_session`).

The same outputs as the local backend, byte for byte (the sample, and 50k synthetic conversations); a worker
killed mid-task is retried and the run ends with the same files, or, with no retries left, stops with a
message and writes nothing; task errors arrive as the task raised them; a shared object (moderation's rate
budget) is one actor every worker paces against."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipeline.config_loader import load_config
from pipeline.engine.ray_executor import RayExecutor, _node_sees, not_shared_message, resolve_address
from pipeline.errors import UserError
from pipeline.stages.moderation.rate_budget import RateBudget, acquire
from tests.conftest import ROOT
from tests.test_pipeline_e2e import DATA_FILES


def _square(i: int) -> tuple[int, int]:
    time.sleep(0.02 * (4 - i % 4))                      # later tasks finish first
    return i * i, os.getpid()


def _raises(i: int) -> int:
    if i == 3:
        raise UserError("row 3 is wrong: fix it")
    return i


def _sleepy(i: int, marks: str) -> int:
    """Task i writes its pid to marks/<i> on each attempt; the first attempt of task 0 sleeps until killed."""
    path = Path(marks) / str(i)
    attempts = path.read_text().split() if path.exists() else []
    path.write_text(" ".join([*attempts, str(os.getpid())]))
    if i == 0 and not attempts:
        time.sleep(60)
    return i


def _paced_sends(budget, n: int) -> list[float]:
    """n sends through `budget`; when each went out (CLOCK_MONOTONIC: one clock for every process here)."""
    return [acquire(budget, 1, threading.Event()) and time.monotonic() for _ in range(n)]


def test_address_from_config_then_environment():
    assert resolve_address("ray://head:10001", {"RAY_ADDRESS": "auto"}) == "ray://head:10001"
    assert resolve_address(None, {"RAY_ADDRESS": "10.0.0.5:6379"}) == "10.0.0.5:6379"
    assert resolve_address(None, {}) is None            # start a local instance


def test_ray_backend_without_ray_stops_at_config_load_naming_make_setup_ray(tmp_path, monkeypatch, capsys):
    import importlib.util

    from pipeline.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_sample({"backend": "ray"}, tmp_path / "cache")))
    assert main(["prepare", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "execution.backend" in err and "run `make setup-ray`" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    config.write_text(yaml.safe_dump(_sample({"backend": "ray", "ray": {"address": "head"}}, tmp_path / "cache")))
    with pytest.raises(UserError, match="not a Ray address"):
        load_config(config)


def test_tasks_run_on_workers_in_task_order(ray_session):
    ex = RayExecutor(2)
    assert not ex.started and ex.max_workers == 2       # joined the session's instance
    assert ex.workers_for(10**6, 10) == 2 and ex.workers_for(10**6, 1) == 1
    out = list(ex.map(_square, [(i,) for i in range(12)], 2))
    assert [r for r, _ in out] == [i * i for i in range(12)]
    assert os.getpid() not in {pid for _, pid in out}
    ex.close()
    assert ray_session.is_initialized()                 # not ours to stop


def test_a_task_error_arrives_as_raised(ray_session):
    with pytest.raises(UserError) as e:
        list(RayExecutor(2).map(_raises, [(i,) for i in range(6)], 2))
    assert type(e.value) is UserError and str(e.value) == "row 3 is wrong: fix it"


def _kill_when_written(path: Path) -> int:
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = int(path.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.parametrize("retries", [1, 0])
def test_a_killed_worker_is_retried_or_stops_the_map(ray_session, tmp_path, retries):
    killer = threading.Thread(target=_kill_when_written, args=(tmp_path / "0",))
    killer.start()
    ex = RayExecutor(2, max_retries=retries)
    try:
        if retries:
            assert list(ex.map(_sleepy, [(i, str(tmp_path)) for i in range(4)], 2)) == [0, 1, 2, 3]
            first, second = (tmp_path / "0").read_text().split()
            assert first != second                      # task 0 ran again, in another process
        else:
            with pytest.raises(UserError) as e:
                list(ex.map(_sleepy, [(i, str(tmp_path)) for i in range(4)], 2))
            assert "died 1 time" in str(e.value) and "execution.ray.max_retries (now 0)" in str(e.value)
    finally:
        killer.join()


def test_every_node_must_see_the_cache_folder(ray_session, tmp_path):
    RayExecutor(2).check_shared(tmp_path / "cache")      # one machine: every node sees it
    assert list((tmp_path / "cache").iterdir()) == []    # the probe is gone
    assert _node_sees(str(tmp_path / "absent")) == (False, socket.gethostname())
    message = not_shared_message(tmp_path, "cache.dir", ["worker-3", "worker-7"], 8)
    assert "not visible from 2 of the 8 Ray nodes (worker-3, worker-7)" in message and "every node mounts" in message


def test_one_rate_budget_paces_every_worker(ray_session):
    """Two workers sending through one shared budget go at its pace together: 20 sends at 600 RPM (x 0.95)
    take 19 gaps of 0.105 s; two budgets of their own would let them go in 9 gaps each."""
    ex = RayExecutor(2)
    budget = ex.shared(RateBudget, 600)
    sends = sorted(t for run in ex.map(_paced_sends, [(budget, 10), (budget, 10)], 2) for t in run)
    gap = 60 / (600 * 0.95)
    assert sends[-1] - sends[0] >= 15 * gap
    assert budget.requests_per_minute == 600.0 and budget.slowdowns == 0   # attributes read through the proxy


# ----------------------------------------------------------------------------- whole runs


def _sample(execution: dict, cache: Path) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    for inp in cfg["inputs"]:
        inp["path"] = str(ROOT / inp["path"])
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    return {**cfg, "execution": execution, "cache": {"dir": str(cache)}}


@pytest.fixture(scope="module")
def local_sample(tmp_path_factory) -> Path:
    """The sample's outputs with the local backend, in-process (one worker)."""
    from pipeline.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("local-sample")
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(_sample({"workers": 1}, tmp / "cache")))
    run_pipeline(load_config(path), str(path), tmp / "out", quiet=True)
    return tmp / "out"


def _same_files(a: Path, b: Path) -> None:
    for f in DATA_FILES:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def _raylet_pid() -> int:
    import ray

    return ray._private.worker._global_node.all_processes["raylet"][0].process.pid


def _kill_a_task(name: str, killed: list, stop: threading.Event) -> None:
    """SIGKILL the first worker of this test session's raylet seen running task `name` (its process title)."""
    raylet = str(_raylet_pid())
    while not stop.is_set():
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                title = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")[0]
                parent = next(line.split()[1] for line in Path(f"/proc/{entry.name}/status").read_text().splitlines()
                              if line.startswith("PPid:"))
            except (OSError, StopIteration):
                continue
            if parent == raylet and title.strip() == f"ray::{name}".encode():
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
                return
        time.sleep(0.005)


class _Killer:
    def __init__(self, name: str):
        self.killed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_kill_a_task, args=(name, self.killed, self._stop), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_sample_outputs_are_byte_identical_to_local(ray_session, local_sample, run_config, tmp_path):
    result, out = run_config(_sample({"backend": "ray", "workers": 2, "chunk_size": 41, "parallel_min_examples": 0},
                                     tmp_path / "cache-ray"), out="ray")
    _same_files(local_sample, out)
    on_workers = {s["name"] for s in result.stats["stages"] if s.get("workers", 1) > 1}
    assert {"normalize", "pii", "language", "tokens"} <= on_workers  # Ray tasks ran, not the in-process path


@pytest.mark.slow
def test_a_killed_worker_without_retries_stops_the_run_and_writes_nothing(ray_session, local_sample, run_config,
                                                                           tmp_path):
    execution = {"backend": "ray", "workers": 2, "chunk_size": 186, "parallel_min_examples": 0}
    with _Killer("_run_chunk") as killer, pytest.raises(UserError) as e:
        run_config(_sample({**execution, "ray": {"max_retries": 0}}, tmp_path / "cache"), out="ray")
    assert killer.killed, "no worker was killed: the test proved nothing"
    assert "a Ray worker running _run_chunk" in str(e.value) and "wrote no output" in str(e.value)
    assert not (tmp_path / "ray").exists() or not any((tmp_path / "ray").iterdir())
    _, out = run_config(_sample(execution, tmp_path / "cache"), out="ray")   # the rerun, same cache folder
    _same_files(local_sample, out)


@pytest.mark.slow
def test_50k_synthetic_identical_to_local_with_a_worker_killed(ray_session, run_config, tmp_path):
    """50k synthetic conversations (bench/synthetic.py, ~10 % exact and 5 % near duplicates): local with two
    processes vs Ray, one Ray worker killed in the middle of a per-part task (Ray reruns it)."""
    from bench import synthetic

    csv = synthetic.write(50_000, tmp_path / "data")["csv"]
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg["inputs"] = [{"name": "synthetic", "path": str(csv), "layout": "messages",
                      "columns": {"conversation_id": "conversation_id", "role": "speaker", "content": "text"},
                      "roles": {"customer": "user", "agent": "assistant"}}]
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    for s in cfg["stages"]:
        s.pop("allowed", None) if s["name"] == "language" else None
    execution = {"workers": 2, "chunk_size": 10_000, "parallel_min_examples": 1}
    _, local = run_config({**cfg, "execution": execution, "cache": {"dir": str(tmp_path / "c1")}}, out="local")
    with _Killer("_run_chunk") as killer:
        result, on_ray = run_config({**cfg, "execution": {**execution, "backend": "ray"},
                                     "cache": {"dir": str(tmp_path / "c2")}}, out="ray")
    assert killer.killed, "no worker was killed: the test proved nothing"
    _same_files(local, on_ray)
    dedup = next(s for s in result.stats["stages"] if s["name"] == "dedup")
    assert sum(dedup["dropped"].values()) > 5_000      # the duplicates were found, not just passed through


@pytest.mark.slow
def test_moderation_on_ray_resumes_after_a_killed_run(ray_session, tmp_path, realdata):
    """`chatprep prepare` with the ray backend in a subprocess that joins this session's Ray instance through
    RAY_ADDRESS: moderation runs on the driver with its rate budget in an actor and its answer cache in
    cache.dir; killed with SIGKILL mid-screening, the rerun sends only the rest, and the outputs equal a clean
    run of the local backend."""
    from tests.fake_moderation_server import FakeModerationServer
    from tests.test_moderation_resume import finish, prepare

    prompts = list(dict.fromkeys(json.loads(line)["prompt"] for line in
                                 (realdata / "openai-moderation/samples-1680.jsonl").open(encoding="utf-8")))[:90]
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": p}, {"role": "assistant",
                                                      "content": f"Noted, case {i}."}]}) + "\n"
                            for i, p in enumerate(prompts)), encoding="utf-8")

    def config(cache: str, backend: str) -> Path:
        cfg = {"inputs": [{"path": str(data), "layout": "conversations"}],
               "stages": [{"name": "normalize"}, {"name": "moderation", "batch_size": 2, "concurrency": 2,
                                                  "requests_per_minute": 60_000, "tokens_per_minute": None},
                          {"name": "split"}, {"name": "export"}],
               "execution": {"backend": backend, "workers": 2, "chunk_size": 30, "parallel_min_examples": 0},
               "cache": {"dir": str(tmp_path / cache)}}
        path = tmp_path / f"{cache}-{backend}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    address = ray_session.get_runtime_context().gcs_address
    with FakeModerationServer(latency=0.08) as fake, pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_ADDRESS", address)                 # env_for copies os.environ: the subprocess joins us
        proc = prepare(config("cache", "ray"), tmp_path / "out1", fake)
        deadline = time.monotonic() + 120
        while len(fake.answered()) < 30:
            assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first = set(fake.answered())
        fake.reset_log()
        code, _, err = finish(prepare(config("cache", "ray"), tmp_path / "out2", fake))
        assert code == 0, err
        resent = {t for r in fake.records() for t in r.texts}
        assert resent and len(first & resent) <= 8      # only answers in flight at the kill are asked again
        stats = json.loads((tmp_path / "out2" / "stats.json").read_text())
        facts = stats["facts"]["moderation"]
        assert facts["from_cache"] >= len(first) - 8 and facts["rate_budget"]["requests_per_minute"] == 60_000
        assert [s["workers"] for s in stats["stages"] if s["name"] == "normalize"] == [2]  # Ray tasks ran
        mp.delenv("RAY_ADDRESS")
        code, _, err = finish(prepare(config("clean", "local"), tmp_path / "clean", fake))
        assert code == 0, err
    _same_files(tmp_path / "clean", tmp_path / "out2")
