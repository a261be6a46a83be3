"""Config loading: typed models, unknown keys rejected, errors name the file and key path, --set overrides."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config_loader import apply_override, config_hash, load_config
from pipeline.errors import UserError
from tests.conftest import ROOT

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
    out, where = apply_override(raw, "a.b=2")
    assert raw == {"a": {"b": 1}} and out == {"a": {"b": 2}} and where == ("a", "b")


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
    assert error_of(p).startswith(f"{p}: stages[1].model (line 7): unknown model 'llama-3-8b' for openai: known models are ")
    # set by --set: the message names that argument, not the file, and gives no line
    assert error_of(p, ["stages.tokens.model=claude-3"]).startswith(
        "--set 'stages.tokens.model=claude-3': stages[1].model: unknown model 'claude-3'")
    assert load_config(p, ["stages.tokens.encoding=cl100k_base"]).stage("tokens").model == "llama-3-8b"


# --------------------------------------------------------------------------- YAML 1.2 scalars, positions


def test_yaml_12_keeps_no_yes_on_as_strings(tmp_path):
    p = write(tmp_path, "inputs:\n  - path: x.csv\n    layout: messages\n"
                        "    roles: {yes: user, on: system, no: assistant, off: tool}\n"
                        "    columns: {conversation_id: cid, role: who, content: text}\n"
                        "stages:\n  - name: language\n    allowed: [en, no, on]\n  - name: export\n")
    cfg = load_config(p)
    assert cfg.inputs[0].roles == {"yes": "user", "on": "system", "no": "assistant", "off": "tool"}
    assert cfg.stage("language").allowed == ["en", "no", "on"]


def test_yaml_12_numbers_and_booleans():
    from pipeline.config_yaml import load_yaml_value

    assert load_yaml_value("[true, False, TRUE, yes, No, y, n, ~, null]") == \
        [True, False, True, "yes", "No", "y", "n", None, None]
    assert load_yaml_value("[012, 0o17, 0x1F, -3, +4, 1_000, '7']") == [12, 15, 31, -3, 4, "1_000", "7"]
    assert load_yaml_value("[1.5, 1e3, .5, -.inf, 1:20, 2024-01-02]") == [1.5, 1000.0, 0.5, float("-inf"),
                                                                         "1:20", "2024-01-02"]


def test_an_override_value_is_read_with_the_same_rules(tmp_path):
    p = write(tmp_path, {**BASE, "stages": [{"name": "language"}, {"name": "export"}]})
    assert load_config(p, ["stages.language.allowed=[en, no]"]).stage("language").allowed == ["en", "no"]


def test_a_repeated_key_names_both_lines(tmp_path):
    p = write(tmp_path, "inputs:\n  - path: x.csv\n    layout: messages\n    roles: {yes: user, on: system}\n"
                        "    columns: {conversation_id: cid, role: who, content: text}\n"
                        "    roles: {a: user}\nstages: [{name: export}]\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: line 6, column 5: invalid YAML: duplicate key 'roles' (first written at line 4)")
    dup_label = write(tmp_path, "inputs:\n  - path: x.csv\n    layout: messages\n    roles:\n      agent: assistant\n"
                                "      agent: user\n    columns: {conversation_id: cid, role: who, content: text}\n"
                                "stages: [{name: export}]\n", "d.yaml")
    assert "line 6, column 7: invalid YAML: duplicate key 'agent' (first written at line 5)" in error_of(dup_label)


def test_a_merge_key_may_be_overridden(tmp_path):
    p = write(tmp_path, "defaults: &d {layout: messages, path: x.csv}\n"
                        "inputs:\n  - <<: *d\n    path: y.csv\n"
                        "    columns: {conversation_id: cid, role: who, content: text}\nstages: [{name: export}]\n")
    msg = error_of(p)  # the merge works (no duplicate-key error); `defaults` itself is not a config key
    assert "defaults: unknown key" in msg and "(line 1, column 1)" in msg


def test_every_validation_error_names_line_and_column(tmp_path):
    p = write(tmp_path, "inputs:\n  - path: x.csv\n    layout: messages\n    colums: {}\n"
                        "    columns: {role: who, content: text}\n"
                        "stages:\n  - name: split\n    validation_fraction: 2\n  - name: export\n")
    lines = error_of(p).splitlines()
    assert any(line.startswith(f"{p}: inputs[0].colums: unknown key") and line.endswith("(line 4, column 5)")
               for line in lines)
    # a missing key: the block that lacks it
    assert f"{p}: inputs[0].columns.conversation_id: required key is missing (line 5, column 5)" in lines
    assert any(line.startswith(f"{p}: stages[0].validation_fraction: ") and line.endswith("(line 8, column 5)")
               for line in lines)
    bad_layout = write(tmp_path, "inputs:\n  - {path: x.csv, layout: message}\nstages: [{name: export}]\n", "l.yaml")
    assert error_of(bad_layout).endswith("inputs[0].layout: 'message' is not one of messages, pairs, conversations, "
                                         "transcript, threads, preference, preference_ratings, preference_edits (line 2, "
                                         "column 19)")


def test_a_value_set_by_override_has_no_line(tmp_path):
    p = write(tmp_path, BASE)
    msg = error_of(p, ["stages.split.validation_fraction=abc"])
    assert "stages[0].validation_fraction" in msg and "(line" not in msg


def test_set_target_provider_alone_switches_to_that_providers_default_model():
    """The sample config names an OpenAI model; `--set target.provider=P` must not keep it for P."""
    sample = ROOT / "configs/default.yaml"
    assert load_config(sample).target.model == "gpt-4o-mini-2024-07-18"
    assert load_config(sample, ["target.provider=together"]).target.model is None
    both = load_config(sample, ["target.provider=together", "target.model=openai/gpt-oss-120b"])
    assert both.target.model == "openai/gpt-oss-120b"
    assert load_config(sample, ["target.provider=openai"]).target.model == "gpt-4o-mini-2024-07-18"  # unchanged
    with pytest.raises(UserError, match="unknown model 'gpt-4o' for together"):
        load_config(sample, ["target.model=gpt-4o", "target.provider=together"])
