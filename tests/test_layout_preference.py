"""The `preference` layout (explicit chosen / rejected columns) -> the internal preference example
(pipeline/convert/preference_pairs.py): LLaMA-Factory's real DPO demos, each reject reason, the config
checks, and property tests (every row is one pair or one reject; the sides are the cells, trimmed)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.convert import convert_table
from pipeline.errors import UserError
from pipeline.ingest import SourceFile, read_table
from schemas.config import ConvertConfig
from schemas.preference_inputs import PreferenceInput
from tests.destination_checker_cases import write_jsonl
from tests.destination_checkers import DESTINATIONS

SHAREGPT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}
DPO_ZH = {"messages": "conversations", "role_key": "from", "content_key": "value", "chosen": "chosen",
          "rejected": "rejected"}
V1 = {"chosen_messages": "chosen_messages", "rejected_messages": "rejected_messages", "part_text_key": "value"}


def convert_file(path, fmt: str, columns: dict, **kw):
    inp = PreferenceInput(path=str(path), layout="preference", columns=columns, **kw)
    table = read_table(SourceFile(0, str(path), fmt), inp.csv, inp.max_cell_chars)
    return table, convert_table(table.frame, str(path), inp, 0, ConvertConfig(), [])


def convert_rows(columns: dict, cfg: ConvertConfig | None = None, **cells):
    n = len(next(iter(cells.values())))
    frame = pl.DataFrame({**cells, "__row": list(range(1, n + 1))})
    inp = PreferenceInput(path="p.jsonl", layout="preference", columns=columns,
                          **({"roles": SHAREGPT_ROLES} if columns.get("role_key") == "from" else {}))
    return convert_table(frame, "p.jsonl", inp, 0, cfg or ConvertConfig(), [])


def examples(result) -> list[dict]:
    return [json.loads(e) for e in result.examples["example"]]


def as_openai_dpo(example: dict) -> dict:
    """The OpenAI preference line of an internal example, as the design maps it (docs/preference-design.md)."""
    source = {"messages": example["messages"][:-1], **({"tools": example["tools"]} if "tools" in example else {})}
    return {"input": source, "preferred_output": [example["messages"][-1]],
            "non_preferred_output": [example["preference"]["rejected"]]}


# ------------------------------------------------------------------ real files (skip when absent)


def test_llamafactory_dpo_zh_every_row_one_pair(realdata, tmp_path):
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    table, result = convert_file(path, "json", DPO_ZH, roles=SHAREGPT_ROLES)
    assert table.n_rows == len(raw) == result.examples.height  # no row lost, none rejected
    assert result.rejects.height == 0
    got = examples(result)
    for source, example in zip(raw, got):  # rebuilt from the raw JSON, independently of the converter
        prompt = [{"role": SHAREGPT_ROLES[m["from"]], "content": m["value"].strip()} for m in source["conversations"]]
        assert example["messages"][:-1] == prompt
        assert example["messages"][-1] == {"role": "assistant", "content": source["chosen"]["value"].strip()}
        assert example["preference"] == {"rejected": {"role": "assistant", "content": source["rejected"]["value"].strip()},
                                         "signal": "explicit"}
    # pairs of one prompt share a group (the split keeps them together); different prompts never do
    groups = {}
    for example, group in zip(got, result.examples["group_id"]):
        groups.setdefault(group, set()).add(json.dumps(example["messages"][:-1], ensure_ascii=False))
    assert all(len(prompts) == 1 for prompts in groups.values())
    assert len(groups) == len({json.dumps(e["messages"][:-1], ensure_ascii=False) for e in got}) < len(got)
    # the example maps losslessly onto the preference shapes the independent checkers accept
    dpo = write_jsonl(tmp_path / "dpo.jsonl", [as_openai_dpo(e) for e in got])
    for provider in ("openai", "azure-openai", "fireworks", "together"):
        assert DESTINATIONS[provider].check_preference_file(dpo) == [], provider
    assert [DESTINATIONS["openai"].preference_to_pair(as_openai_dpo(e))["rejected"] for e in got] == \
        [[e["preference"]["rejected"]] for e in got]


def test_llamafactory_v1_two_conversations_share_the_prompt(realdata):
    path = realdata / "llamafactory-demo/v1_dpo_demo.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    table, result = convert_file(path, "jsonl", V1)
    assert table.n_rows == len(raw) == result.examples.height and result.rejects.height == 0

    def text(message):
        return "".join(p["value"] for p in message["content"]).strip()

    for source, example in zip(raw, examples(result)):
        chosen, rejected = source["chosen_messages"], source["rejected_messages"]
        assert [(m["role"], m["content"]) for m in example["messages"]] == [(m["role"], text(m)) for m in chosen]
        assert example["preference"]["rejected"] == {"role": "assistant", "content": text(rejected[-1])}
        assert all("loss_weight" not in m for m in example["messages"])
    # loss_weight is dropped and counted once per message of the pair (the shared prompt once)
    per_row = [len(r["chosen_messages"]) + 1 for r in raw]
    assert result.facts["dropped_message_keys"] == {"loss_weight": sum(per_row)}


# ------------------------------------------------------------------ shapes and rejects


def test_prompt_column_system_and_tools():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    r = convert_rows({"prompt": "q", "system": "s", "chosen": "c", "rejected": "r", "tools": "t"},
                     q=["  hi "], s=["be brief"], c=[" yes"], r=["no "], t=[json.dumps(tools)])
    (example,) = examples(r)
    assert example == {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "yes"}], "tools": tools,
                       "preference": {"rejected": {"role": "assistant", "content": "no"}, "signal": "explicit"}}


@pytest.mark.parametrize("cells, reason, fragment", [
    ({"m": '[{"from": "human", "value": "q"}]', "c": "", "r": "no"}, "missing_chosen", "column 'c'"),
    ({"m": '[{"from": "human", "value": "q"}]', "c": "yes", "r": '{"from": "human", "value": "x"}'},
     "invalid_rejected", "user message"),
    ({"m": '[{"from": "human", "value": "q"}]', "c": "same ", "r": " same"}, "identical_pair", "identical"),
    ({"m": '[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]', "c": "y", "r": "n"},
     "prompt_not_ending_on_user", "ends on"),
    ({"m": '[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": " "}]',
      "c": "y", "r": "n"}, "prompt_not_ending_on_user", "ends on"),
    ({"m": '[{"from": "robot", "value": "q"}]', "c": "y", "r": "n"}, "unknown_role", "'robot'"),
    ({"m": '[{"from": "human"', "c": "y", "r": "n"}, "invalid_json", "column 'm'"),
    ({"m": "[]", "c": "y", "r": "n"}, "malformed_conversation", "non-empty list"),
])
def test_each_bad_row_is_rejected_with_its_reason(cells, reason, fragment):
    r = convert_rows({"messages": "m", "role_key": "from", "content_key": "value", "chosen": "c", "rejected": "r"},
                     **{k: [v] for k, v in cells.items()})
    assert r.examples.height == 0
    (reject,) = r.rejects.iter_rows(named=True)
    assert reject["reason"] == reason and reject["source_rows"] == [1] and reject["stage"] == "convert"
    assert "row 1" in reject["detail"] and fragment in reject["detail"]


@pytest.mark.parametrize("chosen, rejected, reason", [
    ([("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "b")], [("user", "q"), ("assistant", "c")],
     "multi_message_side"),
    ([("user", "q"), ("assistant", "a")], [("user", "q"), ("assistant", "a")], "identical_pair"),
    ([("user", "q")], [("user", "q"), ("assistant", "a")], "missing_chosen"),
])
def test_two_conversations_must_differ_in_one_reply(chosen, rejected, reason):
    def conv(turns):
        return json.dumps([{"role": role, "content": text} for role, text in turns])

    r = convert_rows({"chosen_messages": "a", "rejected_messages": "b"}, a=[conv(chosen)], b=[conv(rejected)])
    assert r.rejects["reason"].to_list() == [reason] and r.examples.height == 0


@pytest.mark.parametrize("columns, fragment", [
    ({"messages": "m", "prompt": "p", "chosen": "c", "rejected": "r"}, "exactly one"),
    ({"messages": "m", "chosen": "c"}, "columns.rejected"),
    ({"chosen_messages": "a"}, "both"),
    ({"chosen_messages": "a", "rejected_messages": "b", "chosen": "c"}, "leave out"),
])
def test_config_names_the_missing_or_conflicting_columns(columns, fragment):
    with pytest.raises(ValidationError, match=fragment):
        PreferenceInput(path="p.jsonl", layout="preference", columns=columns)


def test_a_column_not_in_the_file_stops_the_run_naming_it(tmp_path, run_config):
    (tmp_path / "p.csv").write_text("q,good,bad\nhi,yes,no\n")
    cfg = {"inputs": [{"path": str(tmp_path / "p.csv"), "layout": "preference",
                       "columns": {"prompt": "question", "chosen": "good", "rejected": "bad"}}],
           "stages": [{"name": "export"}]}
    with pytest.raises(UserError) as e:  # was a KeyError traceback
        run_config(cfg)
    assert str(e.value) == (f"{tmp_path / 'p.csv'}: column 'question' (inputs[0].columns.prompt) not found; the file "
                            f"has columns: q, good, bad")


# ------------------------------------------------------------------ properties

texts = st.text(alphabet=st.sampled_from("ab \n\t"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]), texts),
                                   min_size=1, max_size=4), texts, texts), min_size=1, max_size=8),
       st.booleans())
def test_every_row_is_one_pair_or_one_reject_and_the_sides_are_the_cells(rows, merge):
    cells = {"m": [json.dumps([{"role": ro, "content": t} for ro, t in prompt]) for prompt, _, _ in rows],
             "c": [c for _, c, _ in rows], "r": [r for _, _, r in rows]}
    result = convert_rows({"messages": "m", "chosen": "c", "rejected": "r"},
                          ConvertConfig(merge_consecutive=merge), **cells)
    kept = [rows_[0] for rows_ in result.examples["source_rows"]]
    rejected = [rows_[0] for rows_ in result.rejects["source_rows"]]
    assert sorted(kept + rejected) == list(range(1, len(rows) + 1))  # each row exactly once
    for row, example in zip(kept, examples(result)):
        _, chosen, rejected_text = rows[row - 1]
        assert example["messages"][-1] == {"role": "assistant", "content": chosen.strip()}
        assert example["preference"]["rejected"] == {"role": "assistant", "content": rejected_text.strip()}
        assert chosen.strip() and rejected_text.strip() and chosen.strip() != rejected_text.strip()
        assert example["messages"][-2]["role"] == "user"
    for row, reason in zip(rejected, result.rejects["reason"]):
        _prompt, chosen, rejected_text = rows[row - 1]
        expected = ("missing_chosen" if not chosen.strip() else "missing_rejected" if not rejected_text.strip()
                    else None)
        if expected:
            assert reason == expected
        else:
            assert reason in ("identical_pair", "prompt_not_ending_on_user")
    groups = {}
    for group, example in zip(result.examples["group_id"], examples(result)):
        groups.setdefault(json.dumps(example["messages"][:-1]), set()).add(group)
    assert all(len(g) == 1 for g in groups.values())
    assert len({next(iter(g)) for g in groups.values()}) == len(groups)
