"""Config loading: typed models, unknown keys rejected, errors name the file and key path, --set overrides."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config_loader import apply_override, config_hash, load_config
from pipeline.errors import UserError

BASE = {
    "inputs": [{"path": "x.csv", "layout": "messages",
                "columns": {"conversation_id": "cid", "role": "who", "content": "text"}}],
    "stages": [{"name": "split"}, {"name": "export"}],
}


def write(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def error_of(path, overrides=()):
    with pytest.raises(UserError) as e:
        load_config(path, overrides)
    return str(e.value)


def test_valid_config_loads_with_defaults(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.inputs[0].format == "auto"
    assert cfg.convert.merge_consecutive is True
    assert cfg.output.dir == "out"
    assert cfg.stage("split").validation_fraction == 0.1
    assert cfg.stage("dedup") is None


def test_bad_layout_names_file_key_and_allowed_values(tmp_path):
    data = {**BASE, "inputs": [{**BASE["inputs"][0], "layout": "message"}]}
    msg = error_of(write(tmp_path, data, "x.yaml"))
    assert "x.yaml: inputs[0].layout: 'message' is not one of messages, pairs, conversations" in msg


def test_unknown_key_lists_allowed_keys(tmp_path):
    data = {**BASE, "inputs": [{**BASE["inputs"][0], "colums": {}}]}
    msg = error_of(write(tmp_path, data))
    assert "inputs[0].colums: unknown key" in msg and "allowed here:" in msg and "columns" in msg


def test_unknown_stage_and_bad_param(tmp_path):
    msg = error_of(write(tmp_path, {**BASE, "stages": [{"name": "spilt"}, {"name": "export"}]}))
    assert "stages[0].name: 'spilt' is not one of" in msg and "split" in msg
    msg = error_of(write(tmp_path, {**BASE, "stages": [{"name": "split", "validation_fraction": 2}, {"name": "export"}]}))
    assert "stages[0].validation_fraction" in msg


def test_missing_required_column_mapping(tmp_path):
    data = {**BASE, "inputs": [{"path": "x.csv", "layout": "messages", "columns": {"role": "r", "content": "c"}}]}
    assert "inputs[0].columns.conversation_id: required key is missing" in error_of(write(tmp_path, data))


def test_export_must_be_last_and_stages_unique(tmp_path):
    assert "last stage must be 'export'" in error_of(write(tmp_path, {**BASE, "stages": [{"name": "split"}]}))
    dup = {**BASE, "stages": [{"name": "split"}, {"name": "split"}, {"name": "export"}]}
    assert "appears 2 times" in error_of(write(tmp_path, dup))


def test_yaml_syntax_error_names_line(tmp_path):
    msg = error_of(write(tmp_path, "inputs:\n  - path: [unclosed\nstages: []\n"))
    assert "invalid YAML" in msg and "line" in msg


def test_empty_and_missing_files(tmp_path):
    assert "is empty" in error_of(write(tmp_path, ""))
    assert "config file not found" in error_of(tmp_path / "nope.yaml")


def test_overrides_by_path_index_and_stage_name(tmp_path):
    p = write(tmp_path, BASE)
    cfg = load_config(p, ["stages.split.validation_fraction=0.25", "inputs[0].path=y.csv",
                          "convert.system_prompt=Be kind", "output.dir=elsewhere"])
    assert cfg.stage("split").validation_fraction == 0.25
    assert cfg.inputs[0].path == "y.csv"
    assert cfg.convert.system_prompt == "Be kind"
    assert cfg.output.dir == "elsewhere"
    assert "no entry named 'dedup'" in error_of(p, ["stages.dedup.threshold=0.9"])
    assert "expected key.path=value" in error_of(p, ["stages.split"])
    assert "stages[0].validation_fraction" in error_of(p, ["stages.split.validation_fraction=abc"])


def test_override_does_not_mutate_original():
    raw = {"a": {"b": 1}}
    out = apply_override(raw, "a.b=2")
    assert raw == {"a": {"b": 1}} and out == {"a": {"b": 2}}


def test_config_hash_is_stable_and_sensitive(tmp_path):
    p = write(tmp_path, BASE)
    assert config_hash(load_config(p)) == config_hash(load_config(p))
    assert config_hash(load_config(p)) != config_hash(load_config(p, ["stages.split.seed=1"]))


def test_shipped_configs_are_valid():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")):
        load_config(path)


def test_a_model_the_table_cannot_resolve_names_key_and_line(tmp_path):
    p = write(tmp_path, "inputs:\n  - {path: x.jsonl, layout: conversations}\nstages:\n  - name: split\n"
                        "  - name: tokens\n    max_tokens: 4000\n    model: llama-3-8b\n  - name: export\n")
    assert error_of(p).startswith(f"{p}: stages[1].model (line 7): unknown model 'llama-3-8b': known families are ")
    # set by --set: the file does not hold that value, so no line
    assert error_of(p, ["stages.tokens.model=claude-3"]).startswith(f"{p}: stages[1].model: unknown model 'claude-3'")
    assert load_config(p, ["stages.tokens.encoding=cl100k_base"]).stage("tokens").model == "llama-3-8b"
