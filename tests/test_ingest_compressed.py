"""Compressed inputs (.gz .bz2 .xz .zst) and zip members: the format comes from the name under the
compression suffix, the data is streamed, and a compressed file reads exactly as the plain one."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main as cli_main
from pipeline.errors import UserError
from pipeline.ingest import read_table, resolve_sources
from pipeline.ingest.file_streams import open_text
from pipeline.ingest.sources import SourceFile, format_from_name
from schemas.config import Config
from schemas.inputs import CsvOptions
from tests.conftest import read_jsonl
from tests.ingest_files import (
    CODECS,
    MESSAGES,
    STAGES,
    SUFFIX,
    assert_accounted,
    chat,
    chat_jsonl,
    compress,
    messages_csv,
    write_compressed,
    write_zip,
)
from tests.recipes import recipe_config


def _inputs(*entries: dict):
    return Config.model_validate({"inputs": list(entries), "stages": [{"name": "export"}]}).inputs


def test_format_from_the_name_under_the_compression_suffix():
    assert format_from_name("test.jsonl.gz") == "jsonl"
    assert format_from_name("a/b/chats.CSV.bz2") == "csv"
    assert format_from_name("x.tsv.zst") == "csv"
    assert format_from_name("d.json.xz") == "json"
    assert format_from_name("p.parquet.gz") == "parquet"
    assert format_from_name("plain.jsonl") == "jsonl"
    assert format_from_name("archive.gz") is None


def test_unknown_inner_extension_names_the_fix(tmp_path):
    p = tmp_path / "export.gz"
    p.write_bytes(compress(b"x", "gzip"))
    with pytest.raises(UserError) as e:
        resolve_sources(_inputs({"path": str(p), "layout": "conversations"}))
    assert "cannot tell the format of" in str(e.value) and "set inputs[0].format" in str(e.value)


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_jsonl_and_csv_run_like_the_plain_files(run_config, tmp_path, codec):
    plain_j, plain_c = tmp_path / "plain.jsonl", tmp_path / "plain.csv"
    plain_j.write_text(chat_jsonl(12) + "{broken\n")
    plain_c.write_text(messages_csv(12) + "c1,agent,too,many\n")
    packed_j = write_compressed(tmp_path, "chats.jsonl", plain_j.read_bytes(), codec)
    packed_c = write_compressed(tmp_path, "chats.csv", plain_c.read_bytes(), codec)
    runs = {}
    for name, j, c in (("plain", plain_j, plain_c), ("packed", packed_j, packed_c)):
        result, out = run_config({"inputs": [{"path": str(j), "layout": "conversations"}, {"path": str(c), **MESSAGES}],
                                  "stages": STAGES}, out=f"out-{name}")
        assert assert_accounted(result) == {"input": 38, "exported": 36, "rejected": 2}
        runs[name] = ((out / "train.jsonl").read_text(),
                      [(r["reason"], r["source"]["rows"]) for r in read_jsonl(out / "rejects.jsonl")])
    assert runs["packed"] == runs["plain"]


@pytest.mark.parametrize("codec", CODECS)
def test_damaged_compressed_data_stops_naming_file_and_codec(run_config, tmp_path, codec):
    good = compress(chat_jsonl(50).encode(), codec)
    p = tmp_path / ("chats.jsonl" + SUFFIX[codec])
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError) as e:
        run_config({"inputs": [{"path": str(p), "layout": "conversations"}], "stages": STAGES})
    msg = str(e.value)
    assert str(p) in msg and f"{codec} data is damaged" in msg and "-t FILE" in msg


def test_a_plain_file_named_gz_is_refused_with_the_fix(run_config, tmp_path):
    p = tmp_path / "chats.jsonl.gz"
    p.write_text(chat_jsonl(3))
    with pytest.raises(UserError) as e:
        run_config({"inputs": [{"path": str(p), "layout": "conversations"}], "stages": STAGES})
    assert "gzip data is damaged or not gzip" in str(e.value) and "rename it" in str(e.value)


def test_zip_with_one_member(run_config, tmp_path):
    z = write_zip(tmp_path / "export.zip", {"inner/chats.jsonl": chat_jsonl(12).encode()})
    result, out = run_config({"inputs": [{"path": str(z), "layout": "conversations"}], "stages": STAGES})
    assert assert_accounted(result) == {"input": 12, "exported": 12, "rejected": 0}
    prov = read_jsonl(out / "provenance.jsonl")
    assert {p["source"]["file"] for p in prov} == {f"{z}:inner/chats.jsonl"}
    assert result.stats["sources"][0]["format"] == "jsonl"


def test_zip_members_glob_reads_each_member_as_a_source(run_config, tmp_path):
    z = write_zip(tmp_path / "export.zip", {"b.jsonl": chat_jsonl(6).encode() + b"[1]\n", "a.jsonl": chat_jsonl(7).encode(),
                                            "README.txt": b"not data", "dir/": b""})
    result, out = run_config({"inputs": [{"path": str(z), "layout": "conversations", "zip_members": "*.jsonl"}],
                              "stages": STAGES})
    assert assert_accounted(result) == {"input": 14, "exported": 13, "rejected": 1}
    assert [s["file"] for s in result.stats["sources"]] == [f"{z}:a.jsonl", f"{z}:b.jsonl"]
    (bad,) = read_jsonl(out / "rejects.jsonl")
    assert (bad["reason"], bad["source"]["file"], bad["source"]["rows"]) == ("invalid_json", f"{z}:b.jsonl", [7])


def test_zip_without_a_glob_or_with_no_match_names_members_and_fix(tmp_path):
    z = write_zip(tmp_path / "export.zip", {"a.jsonl": b"{}\n", "b.jsonl": b"{}\n"})
    with pytest.raises(UserError) as e:
        resolve_sources(_inputs({"path": str(z), "layout": "conversations"}))
    assert "holds 2 files (a.jsonl, b.jsonl)" in str(e.value) and "inputs[0].zip_members" in str(e.value)
    with pytest.raises(UserError) as e:
        resolve_sources(_inputs({"path": str(z), "layout": "conversations", "zip_members": "*.csv"}))
    assert "no member of" in str(e.value) and "'*.csv'" in str(e.value) and "a.jsonl, b.jsonl" in str(e.value)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(UserError) as e:
        resolve_sources(_inputs({"path": str(bad), "layout": "conversations"}))
    assert "not a readable zip archive" in str(e.value)
    plain = tmp_path / "c.jsonl"
    plain.write_text("{}\n")
    with pytest.raises(UserError) as e:
        resolve_sources(_inputs({"path": str(plain), "layout": "conversations", "zip_members": "*.jsonl"}))
    assert "zip_members is set but no file" in str(e.value)


def test_check_config_accepts_compressed_and_zipped_inputs(tmp_path, capsys):
    import yaml

    gz = write_compressed(tmp_path, "chats.jsonl", chat_jsonl(3).encode(), "gzip")
    z = write_zip(tmp_path / "more.zip", {"x.csv": messages_csv(2).encode(), "y.csv": messages_csv(2).encode()})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"inputs": [{"path": str(gz), "layout": "conversations"},
                                              {"path": str(z), "zip_members": "*.csv", **MESSAGES}],
                                   "stages": [{"name": "export"}]}))
    assert cli_main(["check-config", str(cfg)]) == 0
    assert "2 input(s), 3 file(s)" in capsys.readouterr().out


@pytest.mark.parametrize("codec", CODECS)
def test_text_is_streamed_not_decompressed_whole(tmp_path, codec):
    """open_text hands out lines as the decompressor produces them: the first lines of a file whose second
    half is cut off read fine; only reading on into the damage stops."""
    data = compress(chat_jsonl(100_000).encode(), codec)
    cut = tmp_path / ("big.jsonl" + SUFFIX[codec])
    cut.write_bytes(data[: len(data) // 2])
    with open_text(SourceFile(0, str(cut), "jsonl"), "utf-8", "strict", newline="\n") as text:
        assert json.loads(text.readline()) == chat(0)
    with pytest.raises(UserError, match="damaged"), open_text(SourceFile(0, str(cut), "jsonl"), "utf-8", "strict",
                                                              newline="\n") as text:
        text.read()


def test_compressed_and_zip_recipes(run_config, tmp_path):
    gz = write_compressed(tmp_path, "export.jsonl", chat_jsonl(12).encode(), "gzip")
    result, _ = run_config(recipe_config("compressed-jsonl", gz))
    assert assert_accounted(result) == {"input": 12, "exported": 12, "rejected": 0}
    z = write_zip(tmp_path / "dump.zip", {"train/part-1.jsonl": chat_jsonl(5).encode(),
                                          "train/part-2.jsonl": chat_jsonl(7).encode(), "meta.json": b"{}"})
    result, _ = run_config(recipe_config("zip-members", z), out="out-zip")
    assert assert_accounted(result) == {"input": 12, "exported": 12, "rejected": 0}


# ------------------------------------------------------------------ property: compressed == uncompressed

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=12), st.sampled_from([*CODECS, "zip"]),
       st.sampled_from(["csv", "jsonl"]))
def test_compressed_reads_exactly_as_uncompressed(tmp_path, rows, codec, fmt):
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([("a", "b"), *rows])
        data = buf.getvalue().encode()
    else:
        data = "".join(json.dumps({"a": a, "b": b}) + "\n" if a else f"{b}\n" for a, b in rows).encode()
    plain = tmp_path / f"plain.{fmt}"
    plain.write_bytes(data)
    if codec == "zip":
        packed = write_zip(tmp_path / "packed.zip", {f"inner.{fmt}": data})
        (src,) = resolve_sources(_inputs({"path": str(packed), "layout": "conversations"}))
    else:
        packed = write_compressed(tmp_path, f"packed.{fmt}", data, codec)
        src = SourceFile(0, str(packed), fmt)
    tables = []
    for source in (SourceFile(0, str(plain), fmt), src):
        try:
            t = read_table(source, CsvOptions(), 2_000_000)
            tables.append((t.frame.to_dicts(), [(r.row, r.reason, r.detail) for r in t.rejects], t.n_rows))
        except UserError as e:
            tables.append(str(e).replace(source.path, "FILE"))
    assert tables[0] == tables[1]


# ------------------------------------------------------------------ real files, compressed here


def test_real_twcs_csv_xz_and_zipped(realdata, run_config, tmp_path):
    path = realdata / "twcs-sample/sample.csv"
    inp = {"layout": "threads", "columns": {"id": "tweet_id", "parent": "in_response_to_tweet_id",
                                            "role": "inbound", "content": "text"},
           "roles": {True: "user", False: "assistant"}}
    xz = write_compressed(tmp_path, "sample.csv", path.read_bytes(), "xz")
    z = write_zip(tmp_path / "sample.zip", {"sample.csv": path.read_bytes()})
    outputs = []
    for i, p in enumerate((path, xz, z)):
        result, out = run_config({"inputs": [{**inp, "path": str(p)}], "stages": STAGES}, out=f"out{i}")
        assert_accounted(result)
        outputs.append(((out / "train.jsonl").read_text(), result.stats["rows"]))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][1]["input"] == 93


def test_real_jsonl_zstd(realdata, run_config, tmp_path):
    path = realdata / "openai-cookbook-ft/drone_training.jsonl"
    zst = write_compressed(tmp_path, "drone.jsonl", path.read_bytes(), "zstd")
    runs = []
    for i, p in enumerate((path, zst)):
        result, out = run_config({"inputs": [{"path": str(p), "layout": "conversations"}], "stages": STAGES},
                                 out=f"out{i}")
        assert assert_accounted(result)["input"] == 103
        runs.append((out / "train.jsonl").read_text())
    assert runs[0] == runs[1]
