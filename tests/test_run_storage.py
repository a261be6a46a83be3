"""How a run keeps its data between steps: Parquet parts, checkpoints and their keys, accounting,
byte-level line writing, the memoised input hash, and text-less global stages (dedup fingerprints from parts)."""

from __future__ import annotations

import json
import os
import shutil
import time

import polars as pl
import pytest

from pipeline.engine import checkpoints, environment
from pipeline.engine.accounting import account_rows
from pipeline.engine.atomic_files import line_bytes, write_series_lines
from pipeline.engine.checkpoints import CheckpointStore, code_hash
from pipeline.engine.parts import Parts, PartWriter, write_parts
from pipeline.errors import InternalInvariantError
from pipeline.ingest.sources import SourceFile


def _rows(pairs):
    return pl.DataFrame({"source_file": [f for f, _ in pairs], "source_rows": [r for _, r in pairs]},
                        schema={"source_file": pl.Utf8, "source_rows": pl.List(pl.Int64)})


def test_accounting_counts_and_catches_every_kind_of_loss():
    universe = pl.DataFrame({"source_file": ["a"] * 5 + ["b"] * 2, "row": [1, 2, 3, 4, 5, 1, 2]})
    exported = _rows([("a", [1, 2]), ("b", [2])])
    rejects = _rows([("a", [3, 4, 5]), ("b", [1])])
    got = account_rows(universe, exported, rejects)
    assert got["total"] == {"input": 7, "exported": 3, "rejected": 4}
    assert got["by_source"]["a"] == {"input": 5, "exported": 2, "rejected": 3}
    with pytest.raises(InternalInvariantError, match="neither exported nor rejected"):
        account_rows(universe, exported, _rows([("a", [3, 4]), ("b", [1])]))       # a:5 lost
    with pytest.raises(InternalInvariantError, match="never read"):
        account_rows(universe, _rows([("a", [1, 2, 9]), ("b", [2])]), rejects)     # a:9 phantom
    with pytest.raises(InternalInvariantError, match="files that were never read"):
        account_rows(universe, _rows([("c", [1])]), rejects)
    with pytest.raises(InternalInvariantError, match="numbered twice"):
        account_rows(pl.concat([universe, universe.head(1)]), exported, rejects)


def test_accounting_counts_rows_cited_by_several_examples():
    """A row in several examples (a rated reply in two pairs) counts once as exported; the stats say how many
    rows were cited more than once, and how many exported rows a reject cites too (their other pair)."""
    universe = pl.DataFrame({"source_file": ["a"] * 5, "row": [1, 2, 3, 4, 5]})
    exported = _rows([("a", [1, 2]), ("a", [1, 3]), ("a", [3, 2])])
    rejects = _rows([("a", [1, 4]), ("a", [5])])  # the pair of rows 1 and 4 dropped downstream; row 5 unpaired
    got = account_rows(universe, exported, rejects)
    assert got["total"] == {"input": 5, "exported": 3, "rejected": 2, "in_several_examples": 3,
                            "exported_also_rejected": 1}
    assert got["by_source"]["a"] == got["total"]
    thrice = account_rows(universe, _rows([("a", [1, 2]), ("a", [1, 3]), ("a", [1, 2])]), _rows([("a", [4, 5])]))
    assert thrice["total"]["in_several_examples"] == 2  # rows 1 (three examples) and 2 (two)
    one_place = account_rows(universe, _rows([("a", [1, 2]), ("a", [3])]), _rows([("a", [4, 5])]))
    assert one_place["total"] == {"input": 5, "exported": 3, "rejected": 2}  # no new keys for one-place runs
    with pytest.raises(InternalInvariantError, match="neither exported nor rejected"):
        account_rows(universe, exported, _rows([("a", [1, 4])]))  # row 5 in no pair and no reject


def test_line_bytes_are_the_joined_lines():
    lines = pl.Series("l", ['{"a":"é"}', "", "x" * 1000, "\u2028ü"])
    lines = pl.concat([lines, lines.slice(1, 2)])  # several chunks, sliced buffers
    assert b"".join(bytes(b) for b in line_bytes(lines)) == ("\n".join(lines.to_list()) + "\n").encode()
    assert list(line_bytes(pl.Series("l", [], pl.Utf8))) == []
    with pytest.raises(InternalInvariantError):
        list(line_bytes(pl.Series("l", ["a", None])))


def test_series_lines_are_written_atomically(tmp_path):
    target = tmp_path / "x.jsonl"
    write_series_lines(target, pl.Series(["1", "2"]))
    assert target.read_text() == "1\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl"]


def test_parts_keep_order_schema_and_texts(tmp_path):
    a = pl.DataFrame({"example_id": ["1", "2", "3"], "example": ["x", "y", "z"], "meta.k": [None, None, None]})
    b = pl.DataFrame({"example_id": ["4"], "example": ["w"], "meta.k": ["v"], "meta.only_b": [1]})
    writer = PartWriter(tmp_path, "p", 2, {"example_id": pl.Utf8, "example": pl.Utf8, "meta.k": pl.Utf8,
                                          "meta.only_b": pl.Int64})
    for frame in (a, b):
        writer.add(frame)
    parts = writer.parts()
    assert parts.heights == (2, 1, 1) and parts.height == 4
    assert all(parts.read(i).columns == ["example_id", "example", "meta.k", "meta.only_b"] for i in range(3))
    whole = parts.read_all()
    assert whole["example_id"].to_list() == ["1", "2", "3", "4"]
    assert whole.schema["meta.k"] == pl.Utf8
    assert parts.read_all(without=("example",)).columns == ["example_id", "meta.k", "meta.only_b"]
    assert parts.texts(["4", "2", "nope"]) == {"2": "y", "4": "w"}
    assert Parts.from_json(tmp_path, json.loads(json.dumps(parts.to_json()))) == parts
    empty = write_parts(a.head(0), tmp_path / "e", "p", 10)
    assert empty.heights == (0,) and empty.read_all().columns == a.columns


def test_checkpoint_store_commit_lookup_and_damage(tmp_path):
    store = CheckpointStore(tmp_path, enabled=True)
    work = store.workdir("k1")
    parts = write_parts(pl.DataFrame({"x": [1, 2, 3]}), work, "kept", 2)
    folder = store.commit("k1", work, {"kept": parts.to_json()}, {"note": 1})
    found = store.lookup("k1")
    assert found is not None and found[0] == folder and found[1]["note"] == 1
    assert Parts.from_json(folder, found[1]["parts"]["kept"]).read_all()["x"].to_list() == [1, 2, 3]
    (folder / parts.names[1]).unlink()                    # a part went missing: never trusted, removed
    assert store.lookup("k1") is None and not folder.exists()
    store.cleanup()
    assert not store.scratch.exists()

    off = CheckpointStore(tmp_path / "off", enabled=False)
    work = off.workdir("k2")
    folder = off.commit("k2", work, {"kept": write_parts(pl.DataFrame({"x": [1]}), work, "kept", 2).to_json()}, {})
    assert folder == work and off.lookup("k2") is None    # scratch only
    off.cleanup()
    assert not work.exists()


@pytest.fixture
def fresh_code_key():
    """The code key is computed once per process: recompute it under the test's patches, and after them."""
    checkpoints._all_code.cache_clear()
    yield
    checkpoints._all_code.cache_clear()


def test_code_key_follows_every_helper_module(fresh_code_key, monkeypatch, tmp_path):
    copies = []
    for package in checkpoints._PACKAGES:
        copies.append(tmp_path / package.name)
        shutil.copytree(package, copies[-1], ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(checkpoints, "_PACKAGES", tuple(copies))
    key = code_hash()
    checkpoints._all_code.cache_clear()
    assert code_hash() == key
    helper = tmp_path / "pipeline" / "stages" / "dedup" / "near_duplicates" / "banding.py"
    helper.write_text(helper.read_text() + "\n# changed\n")
    checkpoints._all_code.cache_clear()
    assert code_hash() != key


def test_code_key_follows_library_and_python_versions(fresh_code_key, monkeypatch):
    key = code_hash()
    real_version = environment.metadata.version
    for library in ("datasketch", "tiktoken", "polars", "scipy"):
        monkeypatch.setattr(environment.metadata, "version",
                            lambda name, changed=library: "999.0" if name == changed else real_version(name))
        checkpoints._all_code.cache_clear()
        assert code_hash() != key, library
    monkeypatch.setattr(environment.metadata, "version", real_version)
    monkeypatch.setattr(environment.platform, "python_version", lambda: "3.99.0")
    checkpoints._all_code.cache_clear()
    assert code_hash() != key
    monkeypatch.undo()
    checkpoints._all_code.cache_clear()
    assert code_hash() == key


def test_manifest_lists_the_libraries_of_the_checkpoint_key():
    from pipeline.outputs import versions

    got = versions()
    assert got == {"chatprep": got["chatprep"], **environment.library_versions()}
    assert {"python", "polars", "pyarrow", "numpy", "scipy", "ftfy", "tiktoken", "py3langid", "langdetect",
            "datasketch", "pydantic", "pandera"} <= set(got)
    assert set(got) - {"chatprep", "python"} <= set(environment.OUTPUT_LIBRARIES)


def test_input_hash_memo_never_trusts_a_fresh_file(tmp_path):
    memo = tmp_path / "memo"
    f = tmp_path / "in.csv"
    f.write_text("a,b\n1,2\n")
    src = SourceFile(0, str(f), "csv")
    first = src.fingerprint(memo)
    assert not (memo / "input-hashes").exists()           # modified just now: not memoised
    f.write_text("a,b\n1,3\n")                            # same size, same inode, maybe the same mtime tick
    assert src.fingerprint(memo)["sha256"] != first["sha256"]
    old = time.time() - 60
    os.utime(f, (old, old))
    settled = src.fingerprint(memo)
    assert len(list((memo / "input-hashes").iterdir())) == 1
    assert src.fingerprint(memo) == settled == SourceFile(0, str(f), "csv").fingerprint()
    f.write_text("a,b\n1,4\n")                            # a later write moves mtime: hashed again
    assert src.fingerprint(memo)["sha256"] == SourceFile(0, str(f), "csv").fingerprint()["sha256"] != settled["sha256"]


def test_prune_removes_least_recently_used_checkpoints_but_never_the_current_runs(tmp_path):
    store = CheckpointStore(tmp_path, enabled=True)
    for i, key in enumerate(["old", "mid", "new"]):
        work = store.workdir(key)
        parts = write_parts(pl.DataFrame({"x": list(range(20_000))}), work, "kept", 50_000)
        folder = store.commit(key, work, {"kept": parts.to_json()}, {})
        stamp = time.time() - 1000 + 100 * i
        os.utime(folder / "meta.json", (stamp, stamp))
    size = sum(f.stat().st_size for f in (tmp_path / "checkpoints" / "new").iterdir())
    assert store.lookup("old") is not None                 # a hit counts as use: "old" is now the newest
    assert store.prune({"mid"}, 2.5 * size) == ["new"]     # "mid" is in use by the run: kept although oldest
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["mid", "old"]
    assert store.prune(set(), None) == []
