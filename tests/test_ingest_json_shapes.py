"""JSON documents of records keyed by id or nested under a key (json.key_column, json.path), and JSONL
split at \\n only (U+2028 / U+0085 inside strings are text, line numbers stay exact)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import UserError
from pipeline.ingest import read_table, resolve_sources
from pipeline.ingest.sources import SourceFile
from schemas.config import Config
from schemas.inputs import CsvOptions
from tests.conftest import read_jsonl
from tests.ingest_files import STAGES, assert_accounted, chat, chat_jsonl
from tests.recipes import recipe_config


def _read(path, fmt="json", json_path=(), key_column="key"):
    return read_table(SourceFile(0, str(path), fmt, json_path=tuple(json_path), key_column=key_column),
                      CsvOptions(), 2_000_000)


def _write(tmp_path, data, name="d.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return p


# ------------------------------------------------------------------ unit: the reader


def test_object_keyed_by_id_becomes_records_with_the_key(tmp_path):
    t = _read(_write(tmp_path, {"2303": {"a": "x"}, "2304": {"a": "y", "b": 1}}))
    assert t.frame.to_dicts() == [{"key": "2303", "a": "x", "b": None, "__row": 1},
                                  {"key": "2304", "a": "y", "b": "1", "__row": 2}]
    assert t.n_rows == 2 and t.rejects == []
    t = _read(_write(tmp_path, {"7": {"a": "x"}}), key_column="dialog_id")
    assert t.frame.columns == ["dialog_id", "a", "__row"]


def test_key_column_clash_stops_with_the_fix(tmp_path):
    with pytest.raises(UserError) as e:
        _read(_write(tmp_path, {"1": {"key": "mine", "a": "x"}}))
    assert "record 1 (key '1') already has a field 'key'" in str(e.value) and "json.key_column" in str(e.value)


def test_json_path_leads_to_an_array_or_a_keyed_object(tmp_path):
    p = _write(tmp_path, {"version": 3, "data": {"dialogs": [{"a": "x"}, "oops", {"a": "z"}]}})
    t = _read(p, json_path=["data", "dialogs"])
    assert t.frame.to_dicts() == [{"a": "x", "__row": 1}, {"a": "z", "__row": 3}]
    assert [(r.row, r.reason) for r in t.rejects] == [(2, "invalid_record")] and t.n_rows == 3
    p = _write(tmp_path, {"data": {"dialogs": {"d1": {"a": "x"}, "d2": [1]}}})
    t = _read(p, json_path=["data", "dialogs"])
    assert t.frame.to_dicts() == [{"key": "d1", "a": "x", "__row": 1}]
    assert [(r.row, r.reason, r.detail) for r in t.rejects] == [
        (2, "invalid_record", "record 2 (key 'd2'): expected a JSON object, got list")]


def test_json_path_errors_name_the_missing_key(tmp_path):
    p = _write(tmp_path, {"data": {"dialogues": []}, "version": 1})
    with pytest.raises(UserError) as e:
        _read(p, json_path=["data", "dialogs"])
    assert "json.path 'data.dialogs': key 'dialogs' not found under data; its keys: 'dialogues'" in str(e.value)
    with pytest.raises(UserError) as e:
        _read(p, json_path=["version", "x"])
    assert "version holds a int, not an object with key 'x'" in str(e.value)


def test_object_with_one_array_is_still_that_array(tmp_path):
    t = _read(_write(tmp_path, {"version": 2, "info": {"n": 2}, "data": [{"a": "x"}, {"a": "y"}]}))
    assert t.frame.to_dicts() == [{"a": "x", "__row": 1}, {"a": "y", "__row": 2}]


def test_unrecognised_object_names_its_keys_and_json_path(tmp_path):
    with pytest.raises(UserError) as e:
        _read(_write(tmp_path, {"version": 2, "data": {"a": {}}, "more": [], "other": []}))
    assert "found an object with keys 'version', 'data', 'more', 'other'" in str(e.value)
    assert "json.path" in str(e.value)


def test_json_path_on_a_jsonl_input_is_a_config_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(chat_jsonl(1))
    inputs = Config.model_validate({"inputs": [{"path": str(p), "layout": "conversations",
                                                "json": {"path": "data"}}], "stages": [{"name": "export"}]}).inputs
    with pytest.raises(UserError, match=r"inputs\[0\].json.path is set but .*x.jsonl is read as jsonl"):
        resolve_sources(inputs)


def test_jsonl_splits_at_newline_only(tmp_path):
    p = tmp_path / "d.jsonl"
    texts = ["line\u2028separator", "next\u0085line", "para\u2029graph\x0cform\x1cfile"]
    p.write_text("".join(json.dumps({"t": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    t = _read(p, "jsonl")
    assert t.rejects == [] and t.n_rows == 3
    assert t.frame.to_dicts() == [{"t": s, "__row": i} for i, s in enumerate(texts, start=1)]


def test_jsonl_crlf_and_conflict_marker_lines(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"t": "a"}\r\n<<<<<<< HEAD\r\n{"t": "b"}\r\n=======\r\n{"t": "c"}\r\n>>>>>>> main\r\n')
    t = _read(p, "jsonl")
    assert t.frame.to_dicts() == [{"t": "a", "__row": 1}, {"t": "b", "__row": 3}, {"t": "c", "__row": 5}]
    assert [(r.row, r.reason) for r in t.rejects] == [(2, "merge_conflict_marker"), (4, "merge_conflict_marker"),
                                                      (6, "merge_conflict_marker")]
    assert "line 6: git merge-conflict marker '>>>>>>> main'" in t.rejects[2].detail


# ------------------------------------------------------------------ property: key-object == array

records = st.lists(st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda k: k != "id"),
                                   st.one_of(st.text(max_size=8), st.integers(), st.none(),
                                             st.lists(st.integers(), max_size=2)), max_size=4),
                   min_size=1, max_size=10)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records, st.booleans())
def test_key_object_reads_as_the_array_plus_the_key(tmp_path, recs, nested):
    keys = [f"k{i}" for i in range(len(recs))]
    array, keyed = recs, dict(zip(keys, recs))
    wrap = (lambda d: {"data": {"dialogs": d}}) if nested else (lambda d: d)
    path = ["data", "dialogs"] if nested else []
    a = _read(_write(tmp_path, wrap(array), "a.json"), json_path=path)
    k = _read(_write(tmp_path, wrap(keyed), "k.json"), json_path=path, key_column="id")
    assert k.n_rows == a.n_rows == len(recs)
    assert k.frame["id"].to_list() == keys
    # compared as dicts: a generated key may be "*", which select() would read as every column
    assert [{c: r[c] for c in a.frame.columns} for r in k.frame.to_dicts()] == a.frame.to_dicts()


# ------------------------------------------------------------------ end to end


def _keyed_dialogs(n: int) -> dict:
    return {str(2300 + i): {"turns": [{"speaker": "customer", "text": f"question {i}"},
                                      {"speaker": "agent", "text": f"answer {i}"}], "topic": "billing"}
            for i in range(n)}


def test_keyed_object_end_to_end_with_recipe(run_config, tmp_path):
    data = {**_keyed_dialogs(12), "9999": "not a dialog"}
    p = _write(tmp_path, data, "dialogs.json")
    result, out = run_config(recipe_config("json-keyed-by-id", p, STAGES))
    assert assert_accounted(result) == {"input": 13, "exported": 12, "rejected": 1}
    prov = read_jsonl(out / "provenance.jsonl")
    assert [p["meta"]["dialog_id"] for p in prov] == [str(2300 + i) for i in range(12)]
    assert [p["source"]["rows"] for p in prov] == [[i] for i in range(1, 13)]
    (bad,) = read_jsonl(out / "rejects.jsonl")
    assert (bad["reason"], bad["source"]["rows"]) == ("invalid_record", [13])
    first = read_jsonl(out / "train.jsonl")[0]
    assert first["messages"] == [{"role": "user", "content": "question 0"}, {"role": "assistant", "content": "answer 0"}]


def test_nested_path_end_to_end_with_recipe(run_config, tmp_path):
    p = _write(tmp_path, {"version": 3, "data": {"dialogs": [chat(i) for i in range(12)], "count": 12}})
    result, out = run_config(recipe_config("json-nested-path", p, STAGES))
    assert assert_accounted(result) == {"input": 12, "exported": 12, "rejected": 0}
    assert read_jsonl(out / "train.jsonl")[3] == chat(3)


def test_jsonl_with_unicode_line_separators_end_to_end(run_config, tmp_path):
    p = tmp_path / "d.jsonl"
    lines = [chat(i, extra=sep) for i, sep in enumerate(["\u2028more", "\u0085more", "\u2029more"] * 4)]
    p.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in lines), encoding="utf-8")
    result, out = run_config({"inputs": [{"path": str(p), "layout": "conversations"}], "stages": STAGES})
    assert assert_accounted(result) == {"input": 12, "exported": 12, "rejected": 0}
    prov = read_jsonl(out / "provenance.jsonl")
    assert sorted(r for p in prov for r in p["source"]["rows"]) == list(range(1, 13))


# ------------------------------------------------------------------ real files reshaped here


def test_real_sharegpt_array_rekeyed_by_id_exports_the_same(realdata, run_config, tmp_path):
    path = realdata / "fastchat-dummy/dummy_conversation.json"
    array = json.loads(path.read_text(encoding="utf-8"))
    assert all("id" in r for r in array)
    keyed = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in array}
    assert len(keyed) == len(array)
    nested = _write(tmp_path, {"meta": {"source": "fastchat"}, "data": {"dialogs": keyed}}, "keyed.json")
    inp = {"layout": "conversations", "columns": {"messages": "conversations", "role_key": "from",
                                                  "content_key": "value"},
           "roles": {"human": "user", "gpt": "assistant"}}
    runs = []
    for i, (p, extra) in enumerate([(path, {}), (nested, {"json": {"path": "data.dialogs", "key_column": "id"}})]):
        result, out = run_config({"inputs": [{**inp, **extra, "path": str(p)}], "stages": STAGES}, out=f"out{i}")
        assert assert_accounted(result)["input"] == len(array)
        train = re.sub(r"call_[0-9a-f]{24}", "call_ID", (out / "train.jsonl").read_text())  # ids hash the file
        runs.append((train, result.stats["rows"],
                     [(r["reason"], r["source"]["rows"]) for r in read_jsonl(out / "rejects.jsonl")]))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["glaive_toolcall_zh_demo.json", "glaive_toolcall_en_demo.json"])
def test_real_llamafactory_zh_and_en_files_keyed_by_id(realdata, run_config, tmp_path, name):
    path = realdata / "llamafactory-demo" / name
    array = json.loads(path.read_text(encoding="utf-8"))
    keyed = _write(tmp_path, {f"row-{i}": r for i, r in enumerate(array, start=1)}, name)
    inp = {"layout": "conversations", "roles": {"human": "user", "gpt": "assistant"},
           "columns": {"messages": "conversations", "role_key": "from", "content_key": "value", "tools": "tools"},
           "tool_calls": {"format": "sharegpt"}}
    runs = []
    for i, (p, extra) in enumerate([(path, {}), (keyed, {"metadata": ["key"]})]):
        result, out = run_config({"inputs": [{**inp, **extra, "path": str(p)}], "stages": STAGES}, out=f"out{i}")
        assert assert_accounted(result)["input"] == len(array)
        prov = read_jsonl(out / "provenance.jsonl")
        assert all(p["meta"]["key"] == f"row-{p['source']['rows'][0]}" for p in prov if p.get("meta"))
        train = re.sub(r"call_[0-9a-f]{24}", "call_ID", (out / "train.jsonl").read_text())  # ids hash the file
        runs.append((train, result.stats["rows"],
                     [(r["reason"], r["source"]["rows"]) for r in read_jsonl(out / "rejects.jsonl")]))
    assert runs[0] == runs[1]


def test_json_options_errors_name_the_key_as_written(tmp_path):
    from pipeline.config_loader import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("inputs:\n  - path: d.json\n    layout: conversations\n    json: {pathh: data}\n"
                   "stages: [{name: export}]\n")
    with pytest.raises(UserError) as e:
        load_config(cfg)
    assert "inputs[0].json.pathh: unknown key (allowed here: path, key_column)" in str(e.value)
    cfg.write_text("inputs:\n  - path: d.json\n    layout: conversations\n    json: {path: data..x}\n"
                   "stages: [{name: export}]\n")
    with pytest.raises(UserError, match=r"inputs\[0\].json.path: .*expected keys separated by dots"):
        load_config(cfg)
