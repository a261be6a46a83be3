"""Hostile input, preflight part: paths checked before any work (exit 2, one message each), internal
errors (exit 3, traceback in a log file), two runs sharing a cache folder, and kill -9 at five points
followed by a rerun (outputs byte-identical to a clean run's, no leftovers)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.cli import EXIT_INTERNAL_ERROR, main
from pipeline.engine.run_checks import check_run_paths
from pipeline.errors import UserError
from pipeline.ingest import resolve_sources
from pipeline.outputs import OUTPUT_FILES, STAGING
from tests.conftest import ROOT

DATA_FILES = ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl")
STAGES = [{"name": "normalize"}, {"name": "validate"}, {"name": "dedup"},
          {"name": "split", "validation_fraction": 0.2}, {"name": "export"}]
AS_ROOT = os.geteuid() == 0


def write_chats(path: Path, n: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"Question number {i % 30} about the order?"},
                                      {"role": "assistant", "content": f"Answer {i % 30}: it ships on Monday."}]})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(tmp_path: Path, input_path: str, out: Path | None = None, cache: Path | None = None) -> Path:
    config = {"inputs": [{"path": input_path, "layout": "conversations"}],
              "output": {"dir": str(out or tmp_path / "out")},
              "cache": {"dir": str(cache or tmp_path / ".cache")}, "stages": STAGES}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cli(*args: str, script: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, script, *args] if script else [sys.executable, "-m", "pipeline", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, cwd=cwd or ROOT, env=env)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def assert_accounted(out: Path) -> None:
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"]["input"] == stats["rows"]["exported"] + stats["rows"]["rejected"]


# --- preflight: exit 2 before any work ----------------------------------------------------------


def test_output_folder_is_a_file(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    proc = cli("prepare", "-c", str(write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")))))
    assert_user_error(proc, f"output folder {tmp_path / 'out'} is a file", "fix: set --out or output.dir")
    assert not (tmp_path / ".cache" / "checkpoints").exists()  # nothing ran


def test_output_folder_under_a_file(tmp_path):
    (tmp_path / "blocker").write_text("x")
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")), out=tmp_path / "blocker/sub/out")
    proc = cli("prepare", "-c", str(config))
    assert_user_error(proc, "cannot be created", f"{tmp_path / 'blocker'} is a file, not a folder")


def test_cache_folder_is_a_file(tmp_path):
    (tmp_path / "cachefile").write_text("x")
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")), cache=tmp_path / "cachefile")
    proc = cli("prepare", "-c", str(config))
    assert_user_error(proc, f"cache folder {tmp_path / 'cachefile'} is a file", "cache.dir")
    assert not (tmp_path / "out").exists()


def test_cache_folder_under_a_file(tmp_path):
    (tmp_path / "blocker").write_text("x")
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")), cache=tmp_path / "blocker/.cache")
    assert_user_error(cli("prepare", "-c", str(config)), "cache folder", "is a file, not a folder")


def test_output_and_cache_problems_are_reported_together(tmp_path):
    (tmp_path / "out").write_text("x")
    (tmp_path / "c").write_text("x")
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")), cache=tmp_path / "c")
    assert_user_error(cli("prepare", "-c", str(config)), "output folder", "cache folder")


@pytest.mark.skipif(AS_ROOT, reason="root may write into any folder")
def test_output_folder_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")), out=locked / "out")
        assert_user_error(cli("prepare", "-c", str(config)), "is not writable", "fix:")
    finally:
        locked.chmod(0o700)


def test_not_writable_folder_message(tmp_path, monkeypatch):
    """The same as above for a root user: the probe file cannot be created."""
    from pipeline.engine import run_checks

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_checks.tempfile, "mkstemp", refuse)
    with pytest.raises(UserError) as e:
        check_run_paths([], tmp_path / "out", tmp_path / ".cache")
    msg = str(e.value)
    assert f"output folder {tmp_path / 'out'} cannot be created: {tmp_path} is not writable (Permission denied)" in msg
    assert "cache folder" in msg and "fix: set cache.dir" in msg


@pytest.mark.skipif(AS_ROOT, reason="root may read any file")
def test_unreadable_input(tmp_path):
    chats = write_chats(tmp_path / "in/chats.jsonl")
    chats.chmod(0o000)
    try:
        proc = cli("prepare", "-c", str(write_config(tmp_path, str(chats))))
        assert_user_error(proc, f"input file {chats}: permission denied", "chmod a+r")
    finally:
        chats.chmod(0o600)


def test_unreadable_input_message(tmp_path, monkeypatch):
    """The same as above for a root user: reading the file raises PermissionError."""
    chats = write_chats(tmp_path / "in/chats.jsonl")
    sources = resolve_sources(_load(write_config(tmp_path, str(chats))).inputs)
    real_open = Path.open

    def refuse(self, *a, **kw):
        if self == chats:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *a, **kw)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(UserError, match=r"input file .*chats.jsonl: permission denied .*fix: make it readable"):
        check_run_paths(sources, tmp_path / "out", tmp_path / ".cache")


def test_output_folder_holding_the_inputs(tmp_path):
    """Outputs written beside the inputs would be read back by the next run (its provenance.jsonl, ...)."""
    data = tmp_path / "data"
    write_chats(data / "chats.jsonl")
    proc = cli("prepare", "-c", str(write_config(tmp_path, str(data / "*.jsonl"), out=data)))
    assert_user_error(proc, f"output folder {data} holds input files", "a run would read its own outputs",
                      "fix: set --out / output.dir to a folder outside the inputs")
    assert sorted(p.name for p in data.iterdir()) == ["chats.jsonl"]


def test_output_folder_inside_the_input_glob(tmp_path):
    """A recursive glob over the input folder and the output folder inside it: the second run would
    ingest the first run's outputs."""
    data = tmp_path / "data"
    write_chats(data / "chats.jsonl")
    config = write_config(tmp_path, str(data / "**/*.jsonl"), out=data / "out")
    first = cli("prepare", "-c", str(config))
    assert first.returncode == 0, first.stderr
    assert_accounted(data / "out")
    assert_user_error(cli("prepare", "-c", str(config)), "holds input files", "provenance.jsonl")


# --- internal errors: exit 3, the traceback in a log file ----------------------------------------


def test_internal_error_exit_code_and_log(tmp_path, monkeypatch, capsys):
    import pipeline.runner

    def broken(*a, **kw):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline.runner, "run_pipeline", broken)
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")))
    assert main(["prepare", "-c", str(config)]) == EXIT_INTERNAL_ERROR == 3
    err = capsys.readouterr().err
    assert "internal error (ZeroDivisionError: a bug)" in err and "Traceback" not in err
    (log,) = (tmp_path / ".cache/logs").iterdir()
    assert str(log) in err
    assert "Traceback" in log.read_text() and "ZeroDivisionError: a bug" in log.read_text()


BROKEN_STAGE = '''
import sys
import pipeline.runner as runner


def broken(*a, **kw):
    raise KeyError("a bug in a stage")


runner.run_segment = broken
from pipeline.cli import main

sys.exit(main(sys.argv[1:]))
'''


def test_internal_error_in_a_run_subprocess(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(BROKEN_STAGE)
    proc = cli("prepare", "-c", str(write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")))),
               script=str(script))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "internal error (KeyError: 'a bug in a stage'); this is a bug in chatprep" in proc.stderr
    (log,) = (tmp_path / ".cache/logs").iterdir()
    assert str(log) in proc.stderr and "KeyError" in log.read_text()
    assert not (tmp_path / "out").exists() and not (tmp_path / ".cache/scratch").exists()


# --- two runs sharing a cache folder -------------------------------------------------------------


def test_two_concurrent_runs_on_one_cache(tmp_path):
    chats = str(write_chats(tmp_path / "in/chats.jsonl", n=400))
    config = write_config(tmp_path, chats)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-m", "pipeline", "prepare", "-c", str(config), "--out",
                              str(tmp_path / f"out{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=ROOT) for i in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    for code, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    for name in DATA_FILES:
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    assert_accounted(tmp_path / "out1")
    assert not (tmp_path / ".cache/scratch").exists()


def test_second_run_waits_for_the_cache_lock(tmp_path):
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")))
    (tmp_path / ".cache").mkdir()
    with open(tmp_path / ".cache/run.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("4242")
        lock.flush()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run = subprocess.Popen([sys.executable, "-m", "pipeline", "prepare", "-c", str(config)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(6)
        assert run.poll() is None  # waiting
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert run.wait(timeout=300) == 0
    err = run.stderr.read()
    assert "another run (process 4242) is using the cache folder" in err and "waiting" in err
    assert_accounted(tmp_path / "out")


# --- kill -9, then a rerun --------------------------------------------------------------------------

KILLER = '''
import os, signal, sys
import pipeline.outputs as outputs
import pipeline.runner as runner

point = sys.argv.pop(1)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


convert, segment, write_json, finish = runner.read_and_convert, runner.run_segment, outputs.write_json, \\
    outputs.finish_interrupted_outputs


def kill_after_convert(*a, **kw):
    convert(*a, **kw)
    die()


def kill_in_segment(seg, *a, **kw):
    result = segment(seg, *a, **kw)
    if ("dedup" in seg.names) == (point == "dedup"):
        die()
    return result


def kill_while_writing(path, obj):
    if path.name == "stats.json":
        die()
    write_json(path, obj)


def kill_while_moving(out_dir):
    staging = out_dir / outputs.STAGING
    os.replace(staging / "train.jsonl", out_dir / "train.jsonl")
    die()


if point == "convert":
    runner.read_and_convert = kill_after_convert
elif point in ("pooled", "dedup"):
    runner.run_segment = kill_in_segment
elif point == "writing":
    outputs.write_json = kill_while_writing
elif point == "moving":
    outputs.finish_interrupted_outputs = kill_while_moving

from pipeline.cli import main

sys.exit(main(sys.argv[1:]))
'''


def _load(config: Path):
    from pipeline.config_loader import load_config

    return load_config(config)


def _leftovers(out: Path, cache: Path) -> list[str]:
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.is_dir() else []
    scratch = list((cache / "scratch").glob("*")) if (cache / "scratch").exists() else []
    return hidden + [str(p) for p in scratch]


def clean_outputs(tmp_path: Path, config: Path) -> dict[str, bytes]:
    """The same config run uninterrupted with a cache and output folder of its own."""
    proc = cli("prepare", "-c", str(config), "--out", str(tmp_path / "clean"), "--set",
               f"cache.dir={tmp_path / 'clean-cache'}")
    assert proc.returncode == 0, proc.stderr
    return {name: (tmp_path / "clean" / name).read_bytes() for name in DATA_FILES}


@pytest.mark.parametrize("point,old_outputs", [("convert", False), ("pooled", False), ("dedup", False),
                                                ("writing", False), ("writing", True), ("moving", True)])
def test_kill_then_rerun(tmp_path, point, old_outputs):
    config = write_config(tmp_path, str(write_chats(tmp_path / "in/chats.jsonl")))
    out, cache = tmp_path / "out", tmp_path / ".cache"
    if old_outputs:  # an earlier run's outputs (from another config: they must not stay mixed in)
        out.mkdir()
        for name in OUTPUT_FILES:
            (out / name).write_text(f"old {name}\n")
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    killed = cli(point, "prepare", "-c", str(config), script=str(killer))
    assert killed.returncode == -9, killed.stderr
    if point == "writing":  # killed before the commit: the old outputs (or none) are untouched
        assert (out / STAGING).is_dir()
        expected = {f"old {n}\n" for n in OUTPUT_FILES} if old_outputs else set()
        assert {p.read_text() for p in out.iterdir() if p.is_file()} == expected
    rerun = cli("prepare", "-c", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    for name, data in clean_outputs(tmp_path, config).items():
        assert (out / name).read_bytes() == data, name
    assert_accounted(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert _leftovers(out, cache) == []


def test_interrupted_commit_is_completed_before_the_next_run(tmp_path):
    """A run killed while moving its outputs in: the next start completes the move (all new files)."""
    from pipeline.outputs import COMMITTED, finish_interrupted_outputs

    out = tmp_path / "out"
    (out / STAGING).mkdir(parents=True)
    (out / "train.jsonl").write_text("new train\n")  # already moved
    (out / "stats.json").write_text("old stats\n")
    (out / STAGING / "stats.json").write_text("new stats\n")
    (out / STAGING / COMMITTED).write_text(json.dumps(["train.jsonl", "stats.json"]))
    (out / ".rejects.jsonl.abc123.tmp").write_text("partial")
    finish_interrupted_outputs(out)
    assert sorted(p.name for p in out.iterdir()) == ["stats.json", "train.jsonl"]
    assert (out / "stats.json").read_text() == "new stats\n"
