"""Message-level filters: speaker labels mapped to `drop` (every layout that maps labels), `message_where:`
(messages and threads layouts), and reply-tree paths that collapse into one conversation; each as a unit
test and end to end, the recipes of docs/layouts.md, the real twcs / persuasionforgood / agentune files,
and a property test of the tree: every row in exactly one place, no path emitted twice."""

from __future__ import annotations

import csv
import json
from collections import Counter

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.convert import convert_table
from pipeline.convert.message_filters import prune_subtrees
from pipeline.convert.turns import RoleMap
from pipeline.errors import UserError
from schemas.config import ConvertConfig
from schemas.inputs import ConversationsInput, MessagesInput, ThreadsInput, TranscriptInput
from tests.conftest import read_jsonl
from tests.recipes import recipe_config

ROLES = {"customer": "user", "agent": "assistant", "action": "drop"}


def frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({**cols, "__row": list(range(1, n + 1))})


def messages_of(result) -> list[list[tuple[str, str]]]:
    return [[(m["role"], m["content"]) for m in json.loads(e)["messages"]] for e in result.examples["example"]]


def reasons(result) -> list[tuple[str, list[int]]]:
    return sorted(result.rejects.select("reason", "source_rows").rows(), key=lambda r: r[1])


def assert_rows_once(result, n_rows: int) -> None:
    """Every row is in an example or in rejects, never both (the messages / threads layouts)."""
    exported = {r for rows in result.examples["source_rows"].to_list() for r in rows}
    rejected = [r for rows in result.rejects["source_rows"].to_list() for r in rows]
    assert not exported & set(rejected)
    assert exported | set(rejected) == set(range(1, n_rows + 1))


def assert_accounted(result, out, n_rows: int) -> None:
    rows = result.stats["rows"]
    assert rows["input"] == n_rows == rows["exported"] + rows["rejected"]
    exported = {r for p in read_jsonl(out / "provenance.jsonl") for r in p["source"]["rows"]}
    rejected = {r for rec in read_jsonl(out / "rejects.jsonl") for r in rec["source"]["rows"]}
    assert len(exported) == rows["exported"] and exported | rejected == set(range(1, n_rows + 1))


def convert_changes(result) -> dict:
    return next(s for s in result.stats["stages"] if s["name"] == "convert")["changes"]


# ------------------------------------------------------------------ roles: {label: drop}


def test_role_map_knows_dropped_labels_by_their_configured_name():
    roles = RoleMap({"Action": "drop", "customer": "user"}, 2)
    assert roles.get(" ACTION ") == "drop" and roles.name_of("action") == "Action"
    assert roles.name_of("nobody") is None
    assert "speaker 'Action' is mapped to drop in inputs[2].roles" in roles.dropped("action", "row 4")


def test_drop_is_a_role_value_and_other_words_are_not():
    inp = MessagesInput(path="f.csv", layout="messages", roles=ROLES,
                        columns={"conversation_id": "cid", "role": "who", "content": "text"})
    assert inp.roles["action"] == "drop"
    with pytest.raises(ValueError, match="roles.action"):
        MessagesInput(path="f.csv", layout="messages", roles={"action": "skip"},
                      columns={"conversation_id": "cid", "role": "who", "content": "text"})


def messages_input(**kw) -> MessagesInput:
    return MessagesInput(path="f.csv", layout="messages", roles=kw.pop("roles", ROLES),
                         columns={"conversation_id": "cid", "role": "who", "content": "text"}, **kw)


ACTION_CHAT = {"cid": ["c1", "c1", "c1", "c1", "c1", "c2"],
               "who": ["customer", "Action", "customer", "agent", "action", "action"],
               "text": ["my card", "Account has been pulled up", "is blocked", "unblocked", "Ticket closed", "noted"]}


def test_messages_layout_rejects_each_dropped_line_and_converts_the_rest():
    r = convert_table(frame(**ACTION_CHAT), "f.csv", messages_input(), 0, ConvertConfig(), [])
    assert messages_of(r) == [[("user", "my card\nis blocked"), ("assistant", "unblocked")]]  # merged around it
    assert r.examples["source_rows"].to_list() == [[1, 3, 4]]
    assert reasons(r) == [("dropped_role", [2]), ("dropped_role", [5]), ("dropped_role", [6])]
    detail = r.rejects.filter(pl.col("source_rows").list.first() == 2)["detail"][0]
    assert detail.startswith("row 2, column 'who': speaker 'action' is mapped to drop in inputs[0].roles")
    assert r.counts["dropped_role"] == 3 and r.counts["dropped_role:action"] == 3
    assert_rows_once(r, 6)


def test_dropped_labels_are_no_speaker_for_roles_by_position():
    f = frame(cid=["c"] * 4, who=["ann", "note", "bot", "note"], text=["q", "pulled up", "a", "closed"])
    inp = messages_input(roles={"note": "drop"}, speaker_roles={"by": "position"})
    r = convert_table(f, "f.csv", inp, 0, ConvertConfig(), [])
    assert messages_of(r) == [[("user", "q"), ("assistant", "a")]]
    assert reasons(r) == [("dropped_role", [2]), ("dropped_role", [4])]


def test_transcript_leaves_dropped_turns_out_and_exports_the_row():
    inp = TranscriptInput(path="t.csv", layout="transcript", columns={"text": "t"},
                          markers={"speakers": ["Customer", "Action", "Agent"]}, roles=ROLES)
    f = frame(t=["Customer: hi\nAction: Account pulled up\nAgent: hello", "Action: only a note"])
    r = convert_table(f, "t.csv", inp, 0, ConvertConfig(), [])
    assert messages_of(r) == [[("user", "hi"), ("assistant", "hello")]]
    assert r.counts["dropped_role:action"] == 2  # the row is exported: the count shows the drop
    assert reasons(r) == [("no_assistant_message", [2])]


def test_conversations_leave_dropped_messages_out():
    inp = ConversationsInput(path="c.jsonl", layout="conversations", roles={"human": "user", "gpt": "assistant",
                                                                            "Action": "drop"},
                             columns={"messages": "conversations", "role_key": "from", "content_key": "value"})
    chat = [{"from": "human", "value": "q"}, {"from": "action", "value": "x"}, {"from": "gpt", "value": "a"}]
    r = convert_table(frame(conversations=[json.dumps(chat)]), "c.jsonl", inp, 0, ConvertConfig(), [])
    assert messages_of(r) == [[("user", "q"), ("assistant", "a")]]
    assert r.counts["dropped_role:Action"] == 1 and r.rejects.height == 0


def test_dropped_labels_end_to_end(tmp_path, run_config):
    path = tmp_path / "support.csv"
    pl.DataFrame({"conversation": ACTION_CHAT["cid"], "speaker": ACTION_CHAT["who"],
                  "text": ACTION_CHAT["text"]}).write_csv(path)
    result, out = run_config(recipe_config("dropped-speaker-labels", path))
    assert_accounted(result, out, 6)
    assert [m["content"] for line in read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
            for m in line["messages"]] == ["my card\nis blocked", "unblocked"]
    assert sorted(r["source"]["rows"][0] for r in read_jsonl(out / "rejects.jsonl")
                  if r["reason"] == "dropped_role") == [2, 5, 6]
    assert convert_changes(result)["dropped_role:action"] == 3


# ------------------------------------------------------------------ message_where: (messages layout)


def test_message_where_rejects_the_rows_that_do_not_match():
    f = frame(**{**ACTION_CHAT, "who": ["customer", "agent", "customer", "agent", "customer", "agent"]},
              deleted=["false", "true", "false", "false", None, "false"])
    r = convert_table(f, "f.csv", messages_input(message_where="deleted == 'false'"), 0,
                      ConvertConfig(drop_trailing_turns=False), [])
    assert messages_of(r) == [[("user", "my card\nis blocked"), ("assistant", "unblocked")], [("assistant", "noted")]]
    filtered = r.rejects.filter(pl.col("reason") == "message_filtered")
    assert filtered["source_rows"].to_list() == [[2], [5]]  # an empty cell does not match either
    assert filtered["detail"].to_list() == [
        "row 2: left out by inputs[0].message_where (deleted == 'false'): deleted=true",
        "row 5: left out by inputs[0].message_where (deleted == 'false'): deleted=(empty)"]
    assert r.counts["message_filtered"] == 2
    assert_rows_once(r, 6)


def test_message_where_names_a_missing_column():
    with pytest.raises(UserError, match=r"inputs\[0\]\.message_where: column 'gone' not found in f.csv; "
                                        r"it has columns: cid, who, text"):
        convert_table(frame(**ACTION_CHAT), "f.csv", messages_input(message_where="gone == 1"), 0,
                      ConvertConfig(), [])


def test_message_where_is_checked_when_the_config_loads(tmp_path, run_config):
    config = recipe_config("dropped-speaker-labels", tmp_path / "x.csv")
    config["inputs"][0]["message_where"] = "deleted =="
    with pytest.raises(UserError, match=r"message_where.*expected a value"):
        run_config(config)
    config["inputs"][0] = {"path": "x.csv", "layout": "pairs", "columns": {"prompt": "q", "response": "a"},
                           "message_where": "a == 1"}
    with pytest.raises(UserError, match="message_where"):  # one row is not one message there
        run_config(config)


def test_message_where_end_to_end_on_messages(tmp_path, run_config):
    path = tmp_path / "m.csv"
    pl.DataFrame({"conversation": ["a", "a", "a", "b", "b"], "speaker": ["customer", "agent", "agent", "customer", "agent"],
                  "text": ["q", "[redacted]", "answer", "q2", "a2"], "deleted": ["no", "yes", "no", "no", "no"]}
                 ).write_csv(path)
    config = recipe_config("dropped-speaker-labels", path)
    config["inputs"][0]["message_where"] = "deleted != 'yes'"
    result, out = run_config(config)
    assert_accounted(result, out, 5)
    assert [r["reason"] for r in read_jsonl(out / "rejects.jsonl")] == ["message_filtered"]
    assert convert_changes(result)["message_filtered"] == 1


# ------------------------------------------------------------------ threads: message_where, drop, collapsed paths


def thread_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows of (id, parent, speaker, text, deleted)."""
    ids, parents, who, text, deleted = zip(*rows)
    return frame(id=list(ids), parent=list(parents), who=list(who), text=list(text), deleted=list(deleted))


def threads(rows, cfg=None, **kw):
    inp = ThreadsInput(path="t.csv", layout="threads", roles=kw.pop("roles", {"c": "user", "a": "assistant"}),
                       columns={"id": "id", "parent": "parent", "role": "who", "content": "text"}, **kw)
    return convert_table(thread_frame(rows), "t.csv", inp, 0, cfg or ConvertConfig(), [])


def test_trailing_user_leaves_do_not_make_copies_of_a_path():
    rows = [("1", None, "c", "q", "f"), ("2", "1", "a", "a1", "f"), ("3", "2", "c", "thanks", "f"),
            ("4", "2", "c", "bye", "f"), ("5", "2", "c", "ok", "f")]
    r = threads(rows)
    assert messages_of(r) == [[("user", "q"), ("assistant", "a1")]]
    assert r.counts["collapsed_path"] == 2
    assert reasons(r) == [("trailing_turn", [3]), ("trailing_turn", [4]), ("trailing_turn", [5])]
    assert_rows_once(r, 5)


def test_equal_texts_on_different_rows_are_not_collapsed():
    rows = [("1", None, "c", "q", "f"), ("2", "1", "a", "same", "f"), ("3", "1", "a", "same", "f")]
    r = threads(rows)  # a duplicate in the data (for dedup to judge), not a copy made by the tool
    assert r.examples["source_rows"].to_list() == [[1, 2], [1, 3]] and r.counts["collapsed_path"] == 0


def test_message_where_drops_a_message_with_its_replies():
    rows = [("1", None, "c", "q", "false"), ("2", "1", "a", "a1", "true"), ("3", "2", "c", "q2", "false"),
            ("4", "3", "a", "a2", "false"), ("5", "1", "a", "a1b", "false"), ("6", None, "c", "gone", "true"),
            ("7", "6", "a", "orphaned", "false")]
    r = threads(rows, message_where="deleted == 'false'")
    assert messages_of(r) == [[("user", "q"), ("assistant", "a1b")]]
    assert reasons(r) == [("message_filtered", [n]) for n in (2, 3, 4, 6, 7)]
    details = dict(zip([rows[0] for rows in r.rejects["source_rows"].to_list()], r.rejects["detail"].to_list()))
    assert details[2] == "row 2: left out by inputs[0].message_where (deleted == 'false'): deleted=true"
    assert details[4] == "row 4: a reply below message '2' (row 2), which inputs[0].message_where leaves out"
    assert r.counts["message_filtered"] == 5
    assert_rows_once(r, 7)


def test_dropped_labels_in_a_thread_keep_their_replies_and_collapse_paths():
    rows = [("1", None, "c", "q", "f"), ("2", "1", "x", "pulled up", "f"), ("3", "2", "a", "a1", "f"),
            ("4", "3", "x", "note A", "f"), ("5", "3", "x", "note B", "f")]
    r = threads(rows, roles={"c": "user", "a": "assistant", "x": "drop"})
    assert messages_of(r) == [[("user", "q"), ("assistant", "a1")]]
    assert r.examples["source_rows"].to_list() == [[1, 3]]
    assert reasons(r) == [("dropped_role", [2]), ("dropped_role", [4]), ("dropped_role", [5])]
    assert r.counts["dropped_role:x"] == 3 and r.counts["collapsed_path"] == 1
    assert_rows_once(r, 5)


def test_dropped_labels_are_not_on_the_other_branches_of_longest():
    rows = [("1", None, "c", "q", "f"), ("2", "1", "a", "a", "f"), ("3", "2", "x", "n1", "f"),
            ("4", "3", "x", "n2", "f"), ("5", "2", "c", "q2", "f"), ("6", "5", "a", "a2", "f")]
    r = threads(rows, roles={"c": "user", "a": "assistant", "x": "drop"}, tree={"paths": "longest"})
    assert messages_of(r) == [[("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "a2")]]
    assert reasons(r) == [("dropped_role", [3]), ("dropped_role", [4])]


def test_prune_subtrees_removes_each_cut_message_with_everything_below():
    children = {0: [1, 4], 1: [2], 2: [3]}
    roots, kids, removed = prune_subtrees([0, 5], children, {1, 2, 5})
    assert roots == [0] and kids == {0: [4]}
    assert removed == {1: 1, 2: 2, 3: 2, 5: 5}  # 2 is cut itself, 3 hangs from it


def test_deleted_replies_recipe_end_to_end(tmp_path, run_config):
    path = tmp_path / "tree.jsonl"
    rows = [{"message_id": "r", "parent_id": None, "role": "prompter", "text": "q", "deleted": False},
            {"message_id": "a", "parent_id": "r", "role": "assistant", "text": "good", "deleted": False},
            {"message_id": "b", "parent_id": "r", "role": "assistant", "text": "spam", "deleted": True},
            {"message_id": "c", "parent_id": "b", "role": "prompter", "text": "what?", "deleted": False},
            {"message_id": "d", "parent_id": "a", "role": "prompter", "text": "thanks", "deleted": False},
            {"message_id": "e", "parent_id": "a", "role": "prompter", "text": "bye", "deleted": False}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result, out = run_config(recipe_config("reply-tree-deleted-messages", path))
    assert_accounted(result, out, 6)
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert [[m["content"] for m in line["messages"]] for line in lines] == [["q", "good"]]
    assert Counter(r["reason"] for r in read_jsonl(out / "rejects.jsonl")) == {"message_filtered": 2,
                                                                               "trailing_turn": 2}
    changes = convert_changes(result)
    assert changes["collapsed_path"] == 1 and changes["message_filtered"] == 2


# ------------------------------------------------------------------ property: rows accounted, no copies


@st.composite
def reply_trees(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        parent = None if i == 0 or draw(st.integers(0, 5)) == 0 else str(draw(st.integers(0, i - 1)))
        rows.append((str(i), parent, draw(st.sampled_from(["c", "a", "x"])), draw(st.sampled_from(["p", "q"])),
                     draw(st.sampled_from(["true", "false"]))))
    return rows


@settings(max_examples=200, deadline=None)
@given(reply_trees(), st.booleans(), st.booleans())
def test_every_row_ends_in_one_place_and_no_example_is_emitted_twice(rows, filtered, longest):
    r = threads(rows, roles={"c": "user", "a": "assistant", "x": "drop"},
                message_where="deleted == 'false'" if filtered else None,
                tree={"paths": "longest" if longest else "all"})
    exported = {x for rs in r.examples["source_rows"].to_list() for x in rs}
    rejected = {x for rs in r.rejects["source_rows"].to_list() for x in rs}
    assert exported | rejected == set(range(1, len(rows) + 1))
    by_row = {i + 1: row for i, row in enumerate(rows)}
    assert not any(by_row[x][2] == "x" for x in exported)  # a dropped label is never in an example
    if filtered:
        assert not any(by_row[x][4] == "true" for x in exported)
    keys = list(zip(map(tuple, r.examples["source_rows"].to_list()), r.examples["example"].to_list()))
    assert len(keys) == len(set(keys))


# ------------------------------------------------------------------ real files


def test_twcs_paths_that_collapse_are_emitted_once(realdata, run_config):
    path = realdata / "twcs-sample/sample.csv"
    inp = {"path": str(path), "layout": "threads", "roles": {True: "user", False: "assistant"},
           "columns": {"id": "tweet_id", "parent": "in_response_to_tweet_id", "role": "inbound", "content": "text"}}
    result, out = run_config({"inputs": [inp], "stages": [{"name": "split"}, {"name": "export"}]})
    assert_accounted(result, out, 93)
    assert convert_changes(result)["collapsed_path"] == 1  # two customer follow-ups to one reply, both trimmed
    prov = read_jsonl(out / "provenance.jsonl")
    assert len({tuple(p["source"]["rows"]) for p in prov}) == len(prov)


def test_twcs_message_where_drops_replies_with_their_subtrees(realdata, run_config):
    path = realdata / "twcs-sample/sample.csv"
    with path.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    author = Counter(r["author_id"] for r in records if r["inbound"] == "False").most_common(1)[0][0]
    inp = {"path": str(path), "layout": "threads", "roles": {True: "user", False: "assistant"},
           "columns": {"id": "tweet_id", "parent": "in_response_to_tweet_id", "role": "inbound", "content": "text"},
           "message_where": f"author_id != '{author}'"}
    result, out = run_config({"inputs": [inp], "stages": [{"name": "split"}, {"name": "export"}]})
    assert_accounted(result, out, len(records))
    own = {n for n, r in enumerate(records, start=1) if r["author_id"] == author}
    filtered = {row for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "message_filtered"
                for row in r["source"]["rows"]}
    assert own <= filtered and filtered - own  # the company's tweets, and the replies below them
    assert not {r for p in read_jsonl(out / "provenance.jsonl") for r in p["source"]["rows"]} & filtered


def test_persuasionforgood_message_where_keeps_the_first_turns(realdata, run_config):
    path = realdata / "persuasionforgood/full_dialog.csv"
    with path.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    late = {n for n, r in enumerate(records, start=1) if int(r["Turn"]) >= 10}
    inp = {"path": str(path), "layout": "messages", "columns": {"conversation_id": "B2", "role": "B4", "content": "Unit"},
           "roles": {0: "assistant", 1: "user"}, "message_where": "Turn < 10"}
    result, out = run_config({"inputs": [inp], "stages": [{"name": "split"}, {"name": "export"}]})
    assert_accounted(result, out, len(records))
    filtered = {row for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "message_filtered"
                for row in r["source"]["rows"]}
    assert filtered == late and convert_changes(result)["message_filtered"] == len(late)


def test_agentune_drops_the_recording_notice_as_a_speaker_line(realdata, run_config):
    path = realdata / "agentune-insurance-calls/messages.csv"
    with path.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    notice = {n for n, r in enumerate(records, start=1) if "call may be recorded" in r["message"]}
    inp = {"path": str(path), "layout": "messages", "roles": {"customer": "user", "agent": "assistant"},
           "columns": {"conversation_id": "conversation_id", "role": "author", "content": "message"},
           "message_where": "not message contains 'call may be recorded'"}
    result, out = run_config({"inputs": [inp], "stages": [{"name": "split"}, {"name": "export"}]})
    assert_accounted(result, out, len(records))
    assert notice and {row for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "message_filtered"
                       for row in r["source"]["rows"]} == notice
