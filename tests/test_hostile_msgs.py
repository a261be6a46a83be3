"""Hostile config and command-line input: each case exits 2 with a message that says what was found and the fix,
and no traceback (the CLI in a subprocess). Unit tests of the same cases through load_config are in
tests/test_config.py; the report's CSP is checked in tests/test_report_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config_loader import load_config
from pipeline.errors import UserError
from tests.conftest import ROOT

GOOD = {"inputs": [{"path": "chats.csv", "layout": "messages",
                    "columns": {"conversation_id": "cid", "role": "who", "content": "text"}}],
        "stages": [{"name": "tokens"}, {"name": "export"}]}


def prepare(tmp_path: Path, config: str | Path, *sets: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pipeline", "prepare", "--config", str(config), "--out", str(tmp_path / "out")]
    args += [f"--set={s}" for s in sets]
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def config_file(tmp_path: Path) -> Path:
    (tmp_path / "chats.csv").write_text("cid,who,text\nc1,user,hi\nc1,assistant,hello\n", encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(GOOD, sort_keys=False), encoding="utf-8")
    return path


def stopped(done: subprocess.CompletedProcess) -> str:
    """The message of a run that stopped on bad input: exit 2, no traceback, nothing on stdout's error path."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    return done.stderr


def test_empty_set_value_for_a_path_says_empty_and_names_the_set(tmp_path):
    msg = stopped(prepare(tmp_path, config_file(tmp_path), "inputs[0].path="))
    assert "--set 'inputs[0].path='" in msg and "inputs[0].path: the value is empty" in msg
    assert "folder" not in msg.split("empty")[0] and "config.yaml" not in msg


def test_blank_path_in_the_yaml_file_is_blamed_on_the_file(tmp_path):
    path = config_file(tmp_path)
    path.write_text(path.read_text().replace("path: chats.csv", "path: '  '"))
    msg = stopped(prepare(tmp_path, path))
    assert "config.yaml: inputs[0].path: the value is empty" in msg and "(line 2" in msg


def test_config_path_that_is_a_folder(tmp_path):
    msg = stopped(prepare(tmp_path, tmp_path))
    assert "is a folder, not a config file" in msg and "not found" not in msg


@pytest.mark.parametrize(("set_value", "expected"), [
    ("inputs[0].format=xml", "inputs[0].format: 'xml' is not one of auto, csv, parquet, jsonl, json"),
    ("stages.tokens.model=nope", "stages[0].model: unknown model 'nope'"),
    ("stages.tokens.max_tokens=abc", "stages[0].max_tokens: Input should be a valid integer"),
    ("inputs[0].layout=message", "inputs[0].layout: 'message' is not one of messages"),
])
def test_a_bad_set_value_names_the_set_argument_not_the_file(tmp_path, set_value, expected):
    msg = stopped(prepare(tmp_path, config_file(tmp_path), set_value))
    assert f"--set {set_value!r}: {expected}" in msg, msg
    assert "config.yaml" not in msg


def test_a_bad_value_in_the_file_beside_a_good_set_still_names_the_file(tmp_path):
    path = config_file(tmp_path)
    path.write_text(path.read_text().replace("layout: messages", "layout: message"))
    msg = stopped(prepare(tmp_path, path, "stages.tokens.max_tokens=4000"))
    assert "config.yaml: inputs[0].layout: 'message' is not one of" in msg and "--set" not in msg


def test_config_symlink_loop_and_dangling_link(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    for name in ("a.yaml", "gone.yaml"):
        msg = stopped(prepare(tmp_path, tmp_path / name))
        assert f"{name}: a symbolic link that leads nowhere" in msg


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_config_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "config.yaml")
    msg = stopped(prepare(tmp_path, tmp_path / "config.yaml"))
    assert "not a regular file (a pipe, socket or device)" in msg and "empty" not in msg


def test_config_path_missing_and_empty(tmp_path):
    assert "config file not found" in stopped(prepare(tmp_path, tmp_path / "nope.yaml"))
    assert "the config path is empty" in stopped(prepare(tmp_path, ""))


def test_unreadable_config_says_permission_denied(tmp_path, monkeypatch):
    path = config_file(tmp_path)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)  # chmod does not stop root, who runs the CI container
    with pytest.raises(UserError, match="the config file is not readable \\(permission denied\\)"):
        load_config(path)


def test_set_without_equals_and_unreadable_key_path(tmp_path):
    path = config_file(tmp_path)
    assert "expected key.path=value" in stopped(prepare(tmp_path, path, "stages.tokens"))
    assert "cannot read key path" in stopped(prepare(tmp_path, path, "inputs[x].path=a"))
    assert "no entry named 'dedup'" in stopped(prepare(tmp_path, path, "stages.dedup.threshold=0.9"))


def test_good_config_with_sets_runs_and_accounts_every_row(tmp_path):
    done = prepare(tmp_path, config_file(tmp_path), "stages.tokens.max_tokens=4000")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["rows"]["input"] == 2 == stats["rows"]["exported"] + stats["rows"]["rejected"]
    assert sum(1 for _ in (tmp_path / "out" / "train.jsonl").open()) == 1


def test_check_config_gives_the_same_messages(tmp_path):
    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline", "check-config", *args], capture_output=True,
                              text=True, cwd=tmp_path, check=False, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    assert "is a folder, not a config file" in stopped(check(str(tmp_path)))
    msg = stopped(check(str(config_file(tmp_path)), "--set=inputs[0].path="))
    assert "--set 'inputs[0].path=': inputs[0].path: the value is empty" in msg
