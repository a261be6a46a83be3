"""Preference runs at config load (docs/preference-design.md, 1 and 3): the sides' accessors, no mixed SFT +
preference inputs, every stage declares it handles both replies, every target writes preference files."""

from __future__ import annotations

import pytest
import yaml

from pipeline.chat import preference
from pipeline.config_loader import load_config
from pipeline.errors import UserError
from pipeline.stages import stage_module
from schemas.stages import STAGE_NAMES

PAIR = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "preference": {"rejected": {"role": "assistant", "content": "bad"}, "signal": "explicit"}}
PREF_INPUT = {"path": "pairs.jsonl", "layout": "preference",
              "columns": {"prompt": "q", "chosen": "good", "rejected": "bad"}}
SFT_INPUT = {"path": "chats.jsonl", "layout": "conversations"}


def load(tmp_path, **config):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"inputs": [PREF_INPUT], "stages": [{"name": "export"}], **config}))
    return load_config(path)


def refusal(tmp_path, **config) -> str:
    with pytest.raises(UserError) as e:
        load(tmp_path, **config)
    return str(e.value)


def test_accessors_read_both_sides():
    assert preference.is_preference(PAIR) and not preference.is_preference({"messages": PAIR["messages"]})
    assert preference.prompt(PAIR) == [{"role": "user", "content": "q"}]
    assert preference.chosen(PAIR)["content"] == "good" and preference.rejected(PAIR)["content"] == "bad"
    assert preference.sides(PAIR) == [PAIR["messages"], [{"role": "assistant", "content": "bad"}]]
    assert preference.sides({"messages": PAIR["messages"]}) == [PAIR["messages"]]
    swapped = preference.with_rejected(PAIR, {"role": "assistant", "content": "worse"})
    assert preference.rejected(swapped)["content"] == "worse" and preference.rejected(PAIR)["content"] == "bad"
    assert swapped["preference"]["signal"] == "explicit"
    assert "preference" not in preference.chat_part(PAIR) and preference.chat_part(PAIR)["tools"] == PAIR["tools"]
    assert preference.pair(PAIR) == {"prompt": PAIR["messages"][:1], "chosen": PAIR["messages"][1:],
                                     "rejected": [{"role": "assistant", "content": "bad"}], "tools": PAIR["tools"]}


def test_mixed_sft_and_preference_inputs_are_refused(tmp_path):
    text = refusal(tmp_path, inputs=[SFT_INPUT, PREF_INPUT])
    assert "inputs[1] give preference pairs and inputs[0] give chat (SFT) examples" in text
    assert "one kind of file" in text


def test_every_stage_handles_both_replies():
    assert [n for n in STAGE_NAMES if getattr(stage_module(n), "PREFERENCE", False) is not True] == []


@pytest.mark.parametrize("stage", ["language", "export"])
def test_a_stage_without_the_flag_is_refused_by_name(tmp_path, monkeypatch, stage):
    monkeypatch.setattr(stage_module(stage), "PREFERENCE", False)  # as a new stage that does not know pairs
    text = refusal(tmp_path, stages=[{"name": stage}, {"name": "split"}, {"name": "export"}] if stage != "export"
                   else [{"name": "export"}])
    assert f"stages[0].name (line 9): stage {stage!r} does not handle preference pairs yet" in text
    assert "rejected reply through unscreened" in text
    assert "'split'" not in text  # flagged stages pass


def test_sft_runs_are_not_held_to_the_flag(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"inputs": [SFT_INPUT], "stages": [{"name": "validate"}, {"name": "export"}]}))
    assert not load_config(path).is_preference()


def test_exact_prompt_dedup_is_refused_for_pairs(tmp_path):
    text = refusal(tmp_path, stages=[{"name": "dedup", "exact_prompt": True}, {"name": "export"}])
    assert "exact_prompt is true" in text and "several pairs of one prompt" in text


def test_vertex_refuses_with_its_message(tmp_path):
    text = refusal(tmp_path, targets=[{"provider": "openai"}, {"provider": "vertex-gemini"}])
    line = next(t for t in text.splitlines() if "targets[1].provider" in t)
    assert line.endswith("vertex-gemini: Vertex AI supervised tuning of Gemini documents no preference (DPO) "
                         "format; remove it from `targets:` for this run, or write SFT data from the chosen "
                         "replies in a separate run")
    assert "target.provider" in refusal(tmp_path, target={"provider": "vertex-gemini"})


# ---- the models a destination's DPO jobs take, and its DPO limit


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini-2024-07-18"), ("openai", "gpt-4o"),
                                                 ("azure-openai", "gpt-4o-mini"), ("azure-openai", "gpt-4.1-nano")])
def test_a_model_without_dpo_is_refused_naming_the_ones_with_it(tmp_path, provider, model):
    text = refusal(tmp_path, target={"provider": provider, "model": model})
    assert "target.model (line" in text and f"{provider} {model}: preference (DPO) fine-tuning is documented only " \
        "for gpt-4.1-mini-2025-04-14, gpt-4.1-2025-04-14" in text
    assert text.rstrip().endswith("set the model to one of them")


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4.1-mini-2025-04-14"), ("openai", "gpt-4.1"),
                                                 ("openai", "ft:gpt-4.1-2025-04-14:acme::abc123"),
                                                 ("azure-openai", "gpt-4o-2024-08-06"), ("azure-openai", "gpt-4.1-mini")])
def test_a_model_with_dpo_loads(tmp_path, provider, model):
    assert load(tmp_path, target={"provider": provider, "model": model}).target.model == model


@pytest.mark.parametrize("provider", ["openai", "azure-openai"])
def test_without_a_model_a_preference_run_takes_the_first_dpo_model(tmp_path, provider):
    from pipeline.targets import resolve_targets

    (target,) = resolve_targets(load(tmp_path, target={"provider": provider}))
    assert target.model == "gpt-4.1-mini-2025-04-14"


def test_together_gpt_oss_has_its_dpo_limit_in_preference_runs_only(tmp_path):
    from pipeline.targets import resolve_target, resolve_targets
    from schemas.target import TargetConfig

    (target,) = resolve_targets(load(tmp_path, target={"provider": "together", "model": "openai/gpt-oss-20b"}))
    assert target.max_example_tokens == 8_192 and "Context Length (DPO)" in target.limit_source
    sft = resolve_target(TargetConfig(provider="together", model="openai/gpt-oss-20b"))
    assert sft.max_example_tokens == 16_384 and sft.limit_source == "model table"
    mine = resolve_targets(load(tmp_path, target={"provider": "together", "model": "openai/gpt-oss-20b",
                                                  "max_tokens": 4096}))[0]
    assert mine.max_example_tokens == 4096
