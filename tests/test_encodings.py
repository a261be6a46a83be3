"""Offline tiktoken encodings: provisioned from the bpe-openai wheel with the network blocked, verified
against the sha256 tiktoken expects, and a clear message when nothing works."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken
from tiktoken_ext import openai_public

from pipeline.chat.encodings import (
    FILES,
    EncodingUnavailable,
    ensure_encoding,
    has_valid_file,
    provision_from_wheel,
    wheel_source,
)
from pipeline.chat.token_counting import ChatTokenCounter
from tests.conftest import ROOT, SHARED, read_jsonl

BLOCKED = "http://127.0.0.1:9"  # the discard port: connections are refused at once


def offline_env(cache_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")}
    env.update(TIKTOKEN_CACHE_DIR=str(cache_dir), HTTPS_PROXY=BLOCKED, HTTP_PROXY=BLOCKED,
               https_proxy=BLOCKED, http_proxy=BLOCKED, PYTHONPATH=str(ROOT))
    return env


def python(code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("name", sorted(FILES))
def test_url_and_hash_are_the_ones_tiktoken_expects(name, monkeypatch):
    seen = {}
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe",
                        lambda url, expected_hash=None: seen.update(url=url, sha256=expected_hash) or {})
    openai_public.ENCODING_CONSTRUCTORS[name]()
    assert (seen["url"], seen["sha256"]) == (FILES[name].url, FILES[name].sha256)
    assert FILES[name].cache_name == hashlib.sha1(seen["url"].encode()).hexdigest()  # tiktoken/load.py's name


def test_offline_machine_provisions_from_the_wheel_and_counts_match(tmp_path, realdata):
    shared_cache = SHARED / "tiktoken_cache"
    if not all(has_valid_file(shared_cache, n) for n in FILES):
        pytest.skip(f"reference encodings not found in {shared_cache}")
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    drone = realdata / "openai-cookbook-ft/drone_training.jsonl"
    code = f"""
import json, tiktoken
try:
    tiktoken.get_encoding("o200k_base")
    plain = "loaded"
except Exception as e:
    plain = type(e).__name__
from pipeline.chat.encodings import get_encoding
from pipeline.chat.token_counting import ChatTokenCounter
import os
out = {{"plain_tiktoken": plain}}
for name in ("o200k_base", "cl100k_base"):
    counter = ChatTokenCounter(get_encoding(name), name)
    out[name] = [counter.example(json.loads(line)).total for line in open({str(drone)!r})]
out["cache_dir"] = os.environ["TIKTOKEN_CACHE_DIR"]
print(json.dumps(out))
"""
    done = python(code, tmp_path, offline_env(empty))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["plain_tiktoken"] != "loaded"  # the network really is blocked: tiktoken alone fails
    assert got["cache_dir"] == str((tmp_path / ".cache" / "tiktoken").resolve())
    assert all(has_valid_file(tmp_path / ".cache" / "tiktoken", n) for n in FILES)
    assert not any(empty.iterdir())
    for name in FILES:  # same counts as with the reference cache (this process uses the shared one)
        counter = ChatTokenCounter(tiktoken.get_encoding(name), name)
        assert got[name] == [counter.example(x).total for x in read_jsonl(drone)]


def test_corrupted_copy_fails_the_sha256_check_with_what_to_do(tmp_path):
    source = wheel_source("o200k_base")
    if source is None:
        pytest.skip("bpe-openai is not installed")
    data = bytearray(gzip.decompress(source.read_bytes()))
    data[1000] ^= 0x01
    corrupted = tmp_path / "o200k_base.tiktoken.gz"
    corrupted.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(EncodingUnavailable) as e:
        provision_from_wheel("o200k_base", tmp_path / "cache", source=corrupted)
    msg = str(e.value)
    spec = FILES["o200k_base"]
    assert "sha256 mismatch" in msg and spec.sha256 in msg
    assert f"download {spec.url}" in msg and f"as {spec.cache_name}" in msg and "TIKTOKEN_CACHE_DIR" in msg
    assert not (tmp_path / "cache" / spec.cache_name).exists()  # nothing unverified is written


def test_a_corrupted_cache_file_is_not_trusted(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / FILES["cl100k_base"].cache_name).write_bytes(b"not a bpe file")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(bad))
    assert ensure_encoding("cl100k_base", tmp_path / "project") == "provisioned from bpe-openai"
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str((tmp_path / "project").resolve())
    assert has_valid_file(tmp_path / "project", "cl100k_base")
    assert ensure_encoding("cl100k_base", tmp_path / "project") == "found"


def test_when_everything_fails_the_error_says_exactly_what_to_do(tmp_path):
    code = """
import pipeline.chat.encodings as m
m.wheel_source = lambda name: None   # a machine where bpe-openai is missing
try:
    m.ensure_encoding("o200k_base")
except m.EncodingUnavailable as e:
    print(e)
"""
    done = python(code, tmp_path, offline_env(tmp_path / "nowhere"))
    msg = done.stdout
    spec = FILES["o200k_base"]
    assert "cannot load the tiktoken encoding o200k_base" in msg, done.stderr
    assert "bpe-openai package" in msg and f"downloading {spec.url} failed" in msg
    assert f"put it in {(tmp_path / '.cache' / 'tiktoken').resolve()} as {spec.cache_name}" in msg
    assert "set TIKTOKEN_CACHE_DIR" in msg


def test_setup_checks_provisions_once_and_prints_one_line(tmp_path):
    env = offline_env(tmp_path / "nowhere")
    first = python("from pipeline.setup_checks import main; raise SystemExit(main())", tmp_path, env)
    second = python("from pipeline.setup_checks import main; raise SystemExit(main())", tmp_path, env)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout.count("\n") == second.stdout.count("\n") == 1
    assert "o200k_base (provisioned from bpe-openai), cl100k_base (provisioned from bpe-openai)" in first.stdout
    assert "o200k_base (found), cl100k_base (found)" in second.stdout
    assert all(has_valid_file(tmp_path / ".cache" / "tiktoken", n) for n in FILES)
