"""The azure-openai destination: OpenAI's line as it is, in UTF-8 with a byte-order mark; Azure's models, limits and
retirement dates; whole runs checked by the independent checker (tests/destination_checkers/openai_compatible.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipeline.targets import UnknownTargetError
from pipeline.targets.base import FEATURES
from pipeline.targets.deadlines import notices
from pipeline.targets.destinations import azure_openai as azure
from pipeline.targets.features import features_used, prepare
from tests import destination_runs as runs
from tests.destination_checkers import DESTINATIONS
from tests.destination_runs import resolved

BOM = b"\xef\xbb\xbf"
checker = DESTINATIONS["azure-openai"]
FULL = {"messages": [{"role": "system", "content": "Be brief.", "name": "policy"},
                     {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                  {"type": "image_url", "image_url": {"url": "https://e.test/a.png"}}]},
                     {"role": "assistant", "content": "A draft.", "weight": 0},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
                     {"role": "assistant", "content": "A cat.", "refusal": None}],
        "tools": [{"type": "function", "function": {"name": "look"}}], "parallel_tool_calls": False}


def target(**kw):
    return resolved("azure-openai", **kw)


def test_the_record_is_the_chat_line_with_every_feature():
    assert set(features_used(FULL)) == {"names", "images", "weights", "tools"}
    for policy in ("reject", "drop_feature"):
        p = prepare(FULL, target(lossy=policy))
        assert (p.record, p.losses, p.reason) == (FULL, (), None)
    assert azure.check(FULL) == [] and azure.from_record(azure.to_record(FULL)) == FULL
    assert azure.to_record({**FULL, "metadata": {"x": 1}}) == FULL  # only the line's own keys
    assert azure.SUPPORTS == frozenset(FEATURES) and azure.PASS_THROUGH is True


def test_files_are_utf8_with_a_byte_order_mark_as_the_docs_require():
    bom = azure.FILES.byte_order_mark
    assert bom.value is True and "include a byte-order mark (BOM)" in bom.source and bom.as_of == "2025-09-01"
    assert azure.FILES.min_train.value == 10 and azure.FILES.max_file_bytes.value == 512 * 2**20 - 1


@pytest.mark.parametrize("model, limit", [
    ("gpt-4o-mini-2024-07-18", 65_536), ("gpt-4o-2024-08-06", 65_536), ("gpt-4.1-2025-04-14", 65_536),
    ("gpt-4.1-mini-2025-04-14", 65_536), ("gpt-4.1-nano-2025-04-14", 32_768), ("o4-mini-2025-04-16", 65_536),
    ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef", 65_536), ("ft:gpt-4.1-nano-2025-04-14:org::x1", 32_768),
])
def test_models_and_training_example_context_lengths(model, limit):
    t = target(model=model)
    assert (t.max_example_tokens, t.tokenizer, t.exact_tokens) == (limit, "tiktoken:o200k_base", True)
    assert "Training example context length" in t.facts.max_example_tokens.source
    assert t.price_per_million is None and t.price_source == "price not published"


def test_default_model_and_unknown_models():
    assert target().model == "gpt-4o-mini-2024-07-18"
    with pytest.raises(UnknownTargetError, match="known models are gpt-4o-mini, gpt-4o, gpt-4.1-nano"):
        target(model="gpt-35-turbo-0125")
    with pytest.raises(UnknownTargetError, match="stages.tokens.encoding"):
        target(model="gpt-5-mini")


@pytest.mark.parametrize("model, job, stop", [
    ("gpt-4o-mini-2024-07-18", "2027-04-01", "2027-10-01"), ("gpt-4o-2024-08-06", "2027-04-01", "2027-10-01"),
    ("gpt-4.1-2025-04-14", "2027-04-14", "2027-10-14"), ("gpt-4.1-nano-2025-04-14", "2027-04-14", "2027-10-14"),
    ("o4-mini-2025-04-16", "2027-04-16", "2027-10-16"),
])
def test_retirement_dates_from_the_retirement_schedule(model, job, stop, monkeypatch):
    t = target(model=model)
    assert (t.facts.last_new_job.value, t.facts.shutdown.value) == (job, stop)
    assert "no earlier than" in t.facts.last_new_job.source and "model-retirement-schedule" in t.facts.shutdown.source
    before = notices(t, date(2026, 12, 6))
    assert [n.code for n in before] == ["last_new_job", "model_shutdown"] and before[0].level in ("info", "warning")
    after = notices(t, date.fromisoformat(job) + timedelta(days=1))
    assert after[0].level == "error" and "no new fine-tuning jobs can be created" in after[0].message
    monkeypatch.setenv("CHATPREP_TODAY", (date.fromisoformat(stop) + timedelta(days=1)).isoformat())
    with pytest.raises(UnknownTargetError, match=f"was shut down on {stop}"):
        target(model=model)


# ---------------------------------------------------------------------------------------------- runs


def test_sample_config_with_set_provider(tmp_path, monkeypatch):
    result, out, stats = runs.checked_sample_run(tmp_path, monkeypatch, "azure-openai", checker, "gpt-4o-mini-2024-07-18")
    assert (out / "train.jsonl").read_bytes().startswith(BOM)
    assert (out / "validation.jsonl").read_bytes().startswith(BOM)
    summary = stats["targets"]["azure-openai-gpt-4o-mini-2024-07-18"]
    assert summary["files"]["train.jsonl"]["limit_bytes"] == 512 * 2**20 - 1 and summary["tokens"]["exact"] is True
    assert any(p["code"] == "last_new_job" and "2027-04-01" in p["message"] for p in (x.__dict__ for x in result.problems))


@pytest.mark.slow
def test_real_exports_are_openais_lines_with_a_bom(realdata, run_config, tmp_path):
    inputs = [*runs.real_inputs(realdata).values(), runs.featured_file(tmp_path)]
    _result, o, z = runs.with_openai(run_config, inputs, "azure-openai")
    assert (o.name, z.name) == ("openai-gpt-4o-mini-2024-07-18", "azure-openai-gpt-4o-mini-2024-07-18")
    for split in ("train", "validation"):
        assert (z / f"{split}.jsonl").read_bytes() == BOM + (o / f"{split}.jsonl").read_bytes()
    assert runs.checker_problems(z, checker, "gpt-4o-mini-2024-07-18") == {"train": [], "validation": []}
    stats = runs.rows_accounted(z)
    assert stats["target"]["rejected_for_this_target"] == {} and stats["target"]["losses"] == {}
    runs.assert_round_trips(o, z, azure, checker, target())
