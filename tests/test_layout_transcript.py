"""`transcript` layout: literal markers, regex markers, separators; rejects instead of half-conversions;
property tests: the parser neither loses nor duplicates text and keeps turn order."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.convert import convert_table
from pipeline.convert.transcript import parse_transcript
from pipeline.errors import UserError
from schemas.config import ConvertConfig
from schemas.conversion_options import TranscriptMarkers
from schemas.inputs import TranscriptInput


def frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({**cols, "__row": list(range(1, n + 1))})


def transcript_input(fmt: dict, **kw) -> TranscriptInput:
    return TranscriptInput(path="t.csv", layout="transcript", columns={"text": "dialog", **kw.pop("columns", {})},
                           markers=fmt, **kw)


def examples(result) -> list[dict]:
    return [json.loads(e) for e in result.examples["example"]]


HH = {"speakers": ["Human", "Assistant"]}
HH_ROLES = {"human": "user", "assistant": "assistant"}


def test_anthropic_style_blank_line_markers():
    text = "\n\nHuman: What is 2+2?\nPlease explain.\n\nAssistant: 4.\n\nHuman: Thanks\n\nAssistant: You're welcome."
    r = convert_table(frame(dialog=[text]), "t.csv", transcript_input(HH, roles=HH_ROLES), 0, ConvertConfig(), [])
    (e,) = examples(r)
    assert e["messages"] == [
        {"role": "user", "content": "What is 2+2?\nPlease explain."}, {"role": "assistant", "content": "4."},
        {"role": "user", "content": "Thanks"}, {"role": "assistant", "content": "You're welcome."}]


def test_inline_markers_with_anywhere_and_a_label_inside_a_word_is_not_a_marker():
    fmt = {"speakers": ["Customer", "Agent"], "anywhere": True}
    text = "Customer: my SuperAgent: app fails Agent: which version? Customer: 2.1 Agent: update please"
    r = convert_table(frame(dialog=[text]), "t.csv",
                      transcript_input(fmt, roles={"customer": "user", "agent": "assistant"}), 0, ConvertConfig(), [])
    (e,) = examples(r)
    assert [m["content"] for m in e["messages"]] == ["my SuperAgent: app fails", "which version?", "2.1",
                                                     "update please"]
    assert [m["role"] for m in e["messages"]] == ["user", "assistant", "user", "assistant"]


def test_regex_markers_and_unknown_speaker_rejected_with_its_label():
    fmt = {"pattern": r"(?m)^\[\d\d:\d\d\] (?P<speaker>\w+): "}
    ok = "[10:01] Caller: hello\n[10:02] Operator: hi there"
    bad = "[10:01] Caller: hello\n[10:02] Supervisor: hmm\n[10:03] Operator: hi"
    r = convert_table(frame(dialog=[ok, bad]), "t.csv",
                      transcript_input(fmt, roles={"caller": "user", "operator": "assistant"}), 0, ConvertConfig(), [])
    assert examples(r)[0]["messages"] == [{"role": "user", "content": "hello"},
                                          {"role": "assistant", "content": "hi there"}]
    (rej,) = r.rejects.iter_rows(named=True)
    assert rej["reason"] == "unknown_role" and rej["source_rows"] == [2]
    assert "'Supervisor'" in rej["detail"] and "turn 2" in rej["detail"]


def test_unparseable_transcripts_are_rejected_whole_with_the_reason():
    texts = ["no markers at all here", "Preamble text\nHuman: hi\nAssistant: hello", "   ", None]
    r = convert_table(frame(dialog=texts), "t.csv", transcript_input(HH, roles=HH_ROLES), 0, ConvertConfig(), [])
    assert r.examples.height == 0
    rej = {row[0]: (reason, detail) for row, reason, detail in r.rejects.select("source_rows", "reason", "detail").rows()}
    assert rej[1][0] == "unparsed_transcript" and "'Human:', 'Assistant:' at the start of a line" in rej[1][1]
    assert rej[2][0] == "unparsed_transcript" and "13 characters before the first speaker marker" in rej[2][1]
    assert rej[3][0] == rej[4][0] == "empty_transcript"


def test_separator_alternates_roles_and_position_order_is_configurable():
    text = "Hi , how are you ? __eou__ Fine , thanks . __eou__ Great . __eou__"
    r = convert_table(frame(dialog=[text]), "t.csv", transcript_input({"separator": "__eou__"}), 0,
                      ConvertConfig(drop_trailing_turns=False), [])
    assert [(m["role"], m["content"]) for m in examples(r)[0]["messages"]] == [
        ("user", "Hi , how are you ?"), ("assistant", "Fine , thanks ."), ("user", "Great .")]
    inp = transcript_input({"separator": "__eou__"}, speaker_roles={"order": ["assistant", "user"]})
    r = convert_table(frame(dialog=[text]), "t.csv", inp, 0, ConvertConfig(), [])
    assert [m["role"] for m in examples(r)[0]["messages"]] == ["assistant", "user", "assistant"]
    r = convert_table(frame(dialog=["one turn only"]), "t.csv", transcript_input({"separator": "__eou__"}), 0,
                      ConvertConfig(), [])
    assert r.rejects["reason"].to_list() == ["unparsed_transcript"]
    assert "no '__eou__' separator found" in r.rejects["detail"][0]


def test_speakers_by_position_and_system_column_and_id_group():
    fmt = {"pattern": r"(?m)^(?P<speaker>\w+): "}
    text = "Miriam: my ticket fails\nVirginTrains: try again\nMiriam: still fails\nVirginTrains: we will call"
    inp = transcript_input(fmt, speaker_roles={"by": "position"}, columns={"system": "sys", "id": "cid"})
    r = convert_table(frame(dialog=[text], sys=["Be kind."], cid=["c1"]), "t.csv", inp, 0, ConvertConfig(), [])
    (e,) = examples(r)
    assert [m["role"] for m in e["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert r.examples["group_id"].to_list() == ["t.csv#id=c1"]
    three = "Ann: a\nBob: b\nCid: c"
    r = convert_table(frame(dialog=[three], sys=[None], cid=["c2"]), "t.csv", inp, 0, ConvertConfig(), [])
    assert r.rejects["reason"].to_list() == ["too_many_speakers"]
    assert "'Ann', 'Bob', 'Cid'" in r.rejects["detail"][0]


def test_config_errors_are_caught_when_the_config_loads():
    for bad, words in [({}, "exactly one of"), ({"speakers": ["A"], "separator": "x"}, "exactly one of"),
                       ({"pattern": "(?P<who>A):"}, "named group"), ({"pattern": "(?P<speaker>a*)"}, "empty string"),
                       ({"pattern": "(?P<speaker>["}, "not a valid regular expression")]:
        with pytest.raises(ValueError, match=words):
            TranscriptMarkers(**bad)
    with pytest.raises(ValueError, match="cannot be 'column'"):
        transcript_input({"separator": "__eou__"}, speaker_roles={"by": "column", "column": "x"})


def test_missing_text_column_is_a_clear_error():
    with pytest.raises(UserError, match=r"column 'dialog' \(inputs\[0\]\.columns\.text\) not found"):
        convert_table(frame(other=["x"]), "t.csv", transcript_input(HH, roles=HH_ROLES), 0, ConvertConfig(), [])


# ------------------------------------------------------------------ properties of the parser

labels = st.sampled_from(["Human", "Assistant", "Customer", "Agent"])
# turn text that cannot contain a marker: no newline followed by a label, no label + ':' at all
words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                min_size=0, max_size=25)
lines = st.lists(words, min_size=1, max_size=3).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(labels, lines), min_size=1, max_size=10), st.sampled_from(["\n", "\n\n", "\r\n"]),
       st.text(alphabet=" \n\t", max_size=3))
def test_literal_markers_lose_and_duplicate_nothing(turns, joiner, lead):
    fmt = TranscriptMarkers(speakers=["Human", "Assistant", "Customer", "Agent"])
    text = lead + joiner.join(f"{label}: {body}" for label, body in turns)
    segments, why = parse_transcript(text, fmt)
    assert why is None
    assert [s.speaker for s in segments] == [label for label, _ in turns]  # order kept, none invented
    # the segments tile the text after the leading whitespace: every character exactly once
    pieces = "".join(text[s.marker[0]:s.marker[1]] + text[s.content[0]:s.content[1]] for s in segments)
    assert text[: segments[0].marker[0]].strip() == "" and text[segments[0].marker[0]:] == pieces
    for (label, body), s in zip(turns, segments):
        assert text[s.content[0]:s.content[1]].strip() == body.strip()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
                .filter(lambda t: "__eou__" not in t and "_" not in t[-6:] and "_" not in t[:6]),
                min_size=1, max_size=12), st.booleans())
def test_separator_split_loses_and_duplicates_nothing(parts, trailing):
    fmt = TranscriptMarkers(separator="__eou__")
    text = "__eou__".join(parts) + ("__eou__" if trailing else "")
    segments, why = parse_transcript(text, fmt)
    if len(parts) == 1 and not trailing:
        assert why and segments is None
        return
    contents = [text[s.content[0]:s.content[1]] for s in segments]
    expected = parts if trailing or parts[-1].strip() else parts[:-1]
    assert contents == expected
    rebuilt = "".join(text[s.content[0]:s.content[1]] + text[s.marker[0]:s.marker[1]] for s in segments)
    assert text.startswith(rebuilt) and text[len(rebuilt):].strip() == ""
