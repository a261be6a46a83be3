"""inputs[].split: an input marked train or validation sends all its examples there (e.g. a dataset's own
test file as validation); the split stage decides the rest. Unit tests on the stage, the config checks,
end-to-end runs on files the tests write (with the accounting invariant), the documented recipe, and the
LLaMA-Factory en/zh tool-call demos as a train file and a held-out file."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.config_loader import load_config
from pipeline.convert.step import example_schema
from pipeline.engine.records import INPUT_SPLIT
from pipeline.errors import UserError
from pipeline.stages.split import stage as split
from schemas.stages.split import SplitParams
from tests.conftest import read_jsonl
from tests.openai_format_check import check_file
from tests.recipes import recipe_config

# ------------------------------------------------------------------ the stage


def frame(groups: list[tuple[str, int, str | None]]) -> pl.DataFrame:
    """groups: (group id, examples, the split their input asks for: train | validation | None = auto)."""
    rows = [(f"{g}_{k}", f"file_{asked or 'auto'}.jsonl", g, asked)
            for g, n, asked in groups for k in range(n)]
    return pl.DataFrame(rows, schema={"example_id": pl.Utf8, "source_file": pl.Utf8, "group_id": pl.Utf8,
                                      INPUT_SPLIT: pl.Utf8}, orient="row")


def run(f: pl.DataFrame, **kw):
    return split.run(f, SplitParams(name="split", **kw), None)


def splits(out) -> dict[str, str]:
    return dict(out.frame.select("example_id", "split").iter_rows())


def test_marked_inputs_go_where_they_ask_and_the_fraction_applies_to_the_auto_share():
    f = frame([(f"a{i}", 1, None) for i in range(100)] + [(f"v{i}", 1, "validation") for i in range(30)]
              + [(f"t{i}", 1, "train") for i in range(20)])
    out = run(f, validation_fraction=0.1)
    got = splits(out)
    assert all(got[f"v{i}_0"] == "validation" for i in range(30))
    assert all(got[f"t{i}_0"] == "train" for i in range(20))
    assert sum(got[f"a{i}_0"] == "validation" for i in range(100)) == 10   # 10 % of the 100 auto examples
    assert out.facts["validation"] == 40 and out.facts["target_validation"] == 10
    assert out.facts["auto_examples"] == 100
    assert out.facts["groups_assigned_by_input"] == {"train": 20, "validation": 30}
    by_input = {r["input_split"]: r for r in out.facts["by_input"]}
    assert by_input["validation"] == {"source_file": "file_validation.jsonl", "input_split": "validation",
                                      "examples": 30, "train": 0, "validation": 30}
    assert by_input["auto"]["validation"] == 10 and by_input["train"]["validation"] == 0
    assert out.problems == []


def test_validation_max_caps_the_auto_share_only():
    f = frame([(f"a{i}", 1, None) for i in range(100)] + [(f"v{i}", 1, "validation") for i in range(30)])
    out = run(f, validation_fraction=0.5, validation_max=5)
    assert out.facts["validation"] == 35 and out.facts["target_validation"] == 5


def test_a_group_with_a_marked_and_an_auto_input_follows_the_marked_one():
    f = frame([("shared", 2, None), ("shared", 1, "validation"), ("other", 3, None), ("t", 2, "train"),
               ("t", 4, None)])
    out = run(f, validation_fraction=0.0)
    got = out.frame.group_by("group_id").agg(pl.col("split").unique())
    assert dict(got.iter_rows()) == {
        "shared": ["validation"], "other": ["train"], "t": ["train"]}
    assert out.facts["auto_examples_in_assigned_groups"] == 6  # 2 in 'shared', 4 in 't'
    assert out.facts["auto_examples"] == 3


def test_a_group_with_train_and_validation_inputs_goes_to_validation_and_warns():
    f = frame([("g", 2, "train"), ("g", 1, "validation"), ("h", 5, "train")])
    out = run(f, validation_fraction=0.1)
    assert out.frame.filter(pl.col("group_id") == "g")["split"].unique().to_list() == ["validation"]
    assert out.frame.filter(pl.col("group_id") == "h")["split"].unique().to_list() == ["train"]
    assert out.facts["train_examples_sent_to_validation"] == 2
    (problem,) = out.problems
    assert problem.level == "warning" and problem.code == "train_input_sent_to_validation"
    assert "2 examples" in problem.message


def test_a_marked_group_with_an_empty_group_by_value_still_goes_where_it_asks():
    f = frame([("a", 3, None), ("b", 2, "validation")]).with_columns(
        pl.when(pl.col("group_id") == "b").then(None).otherwise(pl.col("group_id")).alias("meta.user"))
    out = run(f, validation_fraction=0.0, group_by="user")
    assert out.frame.filter(pl.col("group_id") == "b")["split"].unique().to_list() == ["validation"]
    assert out.facts["validation"] == 2


def test_without_marked_inputs_there_is_no_input_split_column_and_no_new_facts(tmp_path):
    f = frame([(f"a{i}", 1, None) for i in range(10)]).drop(INPUT_SPLIT)
    assert not {"by_input", "auto_examples"} & set(run(f).facts)
    cfg = load_config(write_config(tmp_path, {"inputs": [conv_input(tmp_path / "x.jsonl")], "stages": STAGES}))
    assert INPUT_SPLIT not in example_schema(cfg)  # the examples parts keep their columns


# ------------------------------------------------------------------ config

STAGES = [{"name": "validate"}, {"name": "split", "validation_fraction": 0.1}, {"name": "export"}]


def conv_input(path: Path, **kw) -> dict:
    return {"path": str(path), "layout": "conversations", **kw}


def write_config(tmp_path: Path, data: dict) -> Path:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def config_error(tmp_path: Path, data: dict) -> str:
    with pytest.raises(UserError) as e:
        load_config(write_config(tmp_path, data))
    return str(e.value)


def test_config_errors_name_the_key_and_the_fix(tmp_path):
    a, b = conv_input(tmp_path / "a.jsonl"), conv_input(tmp_path / "b.jsonl", split="validation")
    msg = config_error(tmp_path, {"inputs": [a, b], "stages": [{"name": "export"}]})
    assert "inputs[1].split is 'validation' but stages has no 'split' stage" in msg and "- name: split" in msg
    msg = config_error(tmp_path, {"inputs": [{**a, "split": "validation"}, b], "stages": STAGES})
    assert "every input has split: validation" in msg and "set split: auto" in msg
    msg = config_error(tmp_path, {"inputs": [{**a, "split": "test"}], "stages": STAGES})
    assert "inputs[0].split: 'test' is not one of auto, train, validation" in msg
    # train without the stage is what export does anyway: allowed
    assert load_config(write_config(tmp_path, {"inputs": [{**a, "split": "train"}], "stages": [{"name": "export"}]}))


# ------------------------------------------------------------------ end to end


def write_conversations(path: Path, n: int, tag: str) -> Path:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"{tag} question number {i}: how do I do {i}?"},
                                      {"role": "assistant", "content": f"{tag} answer {i}: do it like {i * 7}."}]})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_accounted(result, out: Path) -> None:
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"]
    for name in ("train", "validation"):
        assert check_file(out / f"{name}.jsonl") == []


def sources_of(out: Path, split_name: str) -> list[str]:
    return [Path(p["source"]["file"]).name for p in read_jsonl(out / "provenance.jsonl")
            if p["file"] == f"{split_name}.jsonl"]


def test_a_test_file_marked_validation_end_to_end(tmp_path, run_config):
    train = write_conversations(tmp_path / "train.jsonl", 40, "train")
    test = write_conversations(tmp_path / "test.jsonl", 12, "test")
    result, out = run_config({"inputs": [conv_input(train), conv_input(test, split="validation")],
                              "stages": STAGES})
    assert_accounted(result, out)
    val, tr = sources_of(out, "validation"), sources_of(out, "train")
    assert val.count("test.jsonl") == 12 and val.count("train.jsonl") == 4   # 10 % of the 40 auto examples
    assert "test.jsonl" not in tr and len(tr) == 36
    facts = result.stats["facts"]["split"]
    assert facts["groups_assigned_by_input"] == {"validation": 12} and facts["auto_examples"] == 40
    assert [s.get("split") for s in result.stats["sources"]] == [None, "validation"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "groups_assigned_by_input" in html and "by_input" in html  # the split card shows it


def test_a_dedup_group_spanning_a_validation_file_and_a_train_file_goes_to_validation(tmp_path, run_config):
    train = write_conversations(tmp_path / "train.jsonl", 30, "train")
    test = write_conversations(tmp_path / "test.jsonl", 10, "test")
    with test.open("a", encoding="utf-8") as f:  # a copy of a training conversation in the test file
        f.write(train.read_text(encoding="utf-8").splitlines()[3] + "\n")
    stages = [{"name": "dedup", "action": "group"}, {"name": "split", "validation_fraction": 0.0},
              {"name": "export"}]
    result, out = run_config({"inputs": [conv_input(train), conv_input(test, split="validation")],
                              "stages": stages})
    assert_accounted(result, out)
    facts = result.stats["facts"]["split"]
    assert facts["straddling_pairs"] == 0
    assert facts["auto_examples_in_assigned_groups"] == 1
    assert sources_of(out, "validation").count("train.jsonl") == 1 and len(sources_of(out, "train")) == 29


def test_too_few_training_examples_left_is_still_an_error(tmp_path, run_config):
    train = write_conversations(tmp_path / "train.jsonl", 6, "train")
    test = write_conversations(tmp_path / "test.jsonl", 20, "test")
    result, out = run_config({"inputs": [conv_input(train), conv_input(test, split="validation")],
                              "stages": STAGES})
    assert_accounted(result, out)
    assert any(p["code"] == "too_few_examples" and p["level"] == "error" for p in result.stats["problems"])


def test_recipe_test_file_as_validation(tmp_path, run_config):
    test = write_conversations(tmp_path / "test.jsonl", 8, "test")
    config = recipe_config("test-file-as-validation", test)
    assert config["inputs"][0]["split"] == "validation"
    config["inputs"].insert(0, conv_input(write_conversations(tmp_path / "train.jsonl", 20, "train")))
    result, out = run_config(config)
    assert_accounted(result, out)
    assert sources_of(out, "validation").count("test.jsonl") == 8
    assert "test.jsonl" not in sources_of(out, "train")


def test_llamafactory_en_train_and_zh_held_out(realdata, run_config):
    folder = realdata / "llamafactory-demo"
    glaive = {"layout": "conversations", "roles": {"human": "user", "gpt": "assistant"},
              "columns": {"messages": "conversations", "role_key": "from", "content_key": "value", "tools": "tools"},
              "tool_calls": {"format": "sharegpt"}}
    result, out = run_config({"inputs": [{**glaive, "path": str(folder / "glaive_toolcall_en_demo.json")},
                                         {**glaive, "path": str(folder / "glaive_toolcall_zh_demo.json"),
                                          "split": "validation"}],
                              "stages": STAGES})
    assert_accounted(result, out)
    by_input = {Path(r["source_file"]).name: r for r in result.stats["facts"]["split"]["by_input"]}
    zh, en = by_input["glaive_toolcall_zh_demo.json"], by_input["glaive_toolcall_en_demo.json"]
    assert zh["train"] == 0 and zh["validation"] == zh["examples"] > 250
    assert en["validation"] == round(en["examples"] * 0.1)
    assert sources_of(out, "validation").count("glaive_toolcall_zh_demo.json") == zh["examples"]
