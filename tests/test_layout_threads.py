"""`threads` layout: reply trees from id + parent (or reply ids), paths, orphans, cycles, duplicate ids;
property tests of the tree builder: every message in exactly one tree or rejected, order kept."""

from __future__ import annotations

import json
from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.convert import convert_table
from pipeline.convert.threads import build_forest, paths_of
from schemas.config import ConvertConfig
from schemas.inputs import ThreadsInput

ROLES = {"c": "user", "a": "assistant"}


def frame(rows: list[tuple]) -> pl.DataFrame:
    """rows of (id, parent, speaker, text)."""
    ids, parents, who, text = zip(*rows)
    return pl.DataFrame({"id": list(ids), "parent": list(parents), "who": list(who), "text": list(text),
                         "__row": list(range(1, len(rows) + 1))})


def threads_input(**kw) -> ThreadsInput:
    columns = kw.pop("columns", {"id": "id", "parent": "parent", "role": "who", "content": "text"})
    return ThreadsInput(path="t.csv", layout="threads", roles=kw.pop("roles", ROLES), columns=columns, **kw)


def run(rows, cfg=None, **kw):
    return convert_table(frame(rows), "t.csv", threads_input(**kw), 0, cfg or ConvertConfig(), [])


def texts(result) -> list[list[str]]:
    return [[m["content"] for m in json.loads(e)["messages"]] for e in result.examples["example"]]


TREE = [  # q1 -> a1 -> (q2 -> a2), (q3 -> a3 -> q4): two branches after a1
    ("1", None, "c", "q1"), ("2", "1", "a", "a1"), ("3", "2", "c", "q2"), ("4", "3", "a", "a2"),
    ("5", "2", "c", "q3"), ("6", "5", "a", "a3"), ("7", "6", "c", "q4"),
]


def test_every_path_is_an_example_and_the_tree_is_one_split_group():
    r = run(TREE)
    assert texts(r) == [["q1", "a1", "q2", "a2"], ["q1", "a1", "q3", "a3"]]
    assert r.examples["group_id"].n_unique() == 1 and r.examples["example_id"].n_unique() == 2
    assert r.examples["source_rows"].to_list() == [[1, 2, 3, 4], [1, 2, 5, 6]]
    assert r.rejects.select("reason", "source_rows").rows() == [("trailing_turn", [7])]


def test_longest_path_only_rejects_the_other_branches():
    r = run(TREE + [("8", "7", "a", "a4")], tree={"paths": "longest"})
    assert texts(r) == [["q1", "a1", "q3", "a3", "q4", "a4"]]
    assert sorted(r.rejects.filter(pl.col("reason") == "not_on_longest_path")["source_rows"].to_list()) == [[3], [4]]


def test_orphans_start_their_own_thread_or_are_rejected_with_their_replies():
    rows = [("1", "99", "c", "q"), ("2", "1", "a", "a"), ("3", "2", "c", "q2")]
    r = run(rows)
    assert texts(r) == [["q", "a"]] and r.counts["orphan_thread"] == 1
    r = run(rows, tree={"orphans": "reject"})
    assert r.examples.height == 0
    assert r.rejects.select("reason", "source_rows").rows() == [("missing_parent", [1]), ("missing_parent", [2]),
                                                                 ("missing_parent", [3])]
    assert "'99', which is not in the data" in r.rejects["detail"][0]
    assert "'1', which is rejected" in r.rejects["detail"][1]


def test_cycles_and_everything_below_them_are_rejected():
    rows = [("1", "3", "c", "x"), ("2", "1", "a", "y"), ("3", "2", "c", "z"), ("4", "3", "a", "w"),
            ("5", "5", "c", "self"), ("6", None, "c", "ok?"), ("7", "6", "a", "ok.")]
    r = run(rows)
    assert texts(r) == [["ok?", "ok."]]
    reasons = dict(zip([rows[0] for rows in r.rejects["source_rows"].to_list()], r.rejects["reason"].to_list()))
    assert reasons == {1: "reply_cycle", 2: "reply_cycle", 3: "reply_cycle", 4: "reply_cycle", 5: "reply_cycle"}
    detail = r.rejects.filter(pl.col("source_rows").list.first() == 1)["detail"][0]
    assert "the reply chain loops" in detail and "'1'" in detail and "'3'" in detail


def test_duplicate_and_missing_ids():
    rows = [("1", None, "c", "q"), ("2", "1", "a", "a"), ("2", "1", "a", "dup"), (None, "1", "a", "no id"),
            (" 3.0 ", "2", "c", "q2"), ("4", "3", "a", "a2")]
    r = run(rows)
    assert texts(r) == [["q", "a", "q2", "a2"]]  # "3.0" and " 3.0 " read as id "3"
    assert r.rejects.select("reason", "source_rows").rows() == [("duplicate_message_id", [3]),
                                                                 ("missing_message_id", [4])]


def test_children_column_with_several_ids_and_roles_by_position():
    f = pl.DataFrame({"id": ["10", "11", "12", "13"], "replies": ["11", "12,13", "", None],
                      "author": ["ann", "Shop", "ann", "ann"], "text": ["q", "a", "q2", "q3"], "__row": [1, 2, 3, 4]})
    inp = threads_input(columns={"id": "id", "children": "replies", "role": "author", "content": "text"},
                        speaker_roles={"by": "position"})
    r = convert_table(f, "t.csv", inp, 0, ConvertConfig(drop_trailing_turns=False), [])
    assert [[m["role"] for m in json.loads(e)["messages"]] for e in r.examples["example"]] == [
        ["user", "assistant", "user"]] * 2
    assert texts(r) == [["q", "a", "q2"], ["q", "a", "q3"]]


def test_unknown_role_rejects_the_whole_tree_once():
    r = run([("1", None, "c", "q"), ("2", "1", "x", "?"), ("3", "1", "a", "a")])
    assert r.examples.height == 0
    assert r.rejects.select("reason", "source_rows").rows() == [("unknown_role", [1, 2, 3])]


# ------------------------------------------------------------------ properties of the tree builder


@st.composite
def reply_tables(draw):
    n = draw(st.integers(1, 30))
    ids = [str(i) for i in range(n)]
    parents = []
    for i in range(n):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            parents.append(None)
        elif choice == 1:
            parents.append(f"missing{i}")
        else:  # mostly earlier messages, sometimes later ones (which can close loops)
            parents.append(str(draw(st.integers(0, n - 1))))
    return ids, parents


@settings(max_examples=400, deadline=None)
@given(reply_tables())
def test_forest_places_every_message_once_and_paths_follow_replies(table):
    ids, parents = table
    children, roots, problems = build_forest(ids, parents)
    in_trees = []
    for root in roots:
        assert parents[root] is None
        paths = paths_of(root, children)
        nodes = {n for p in paths for n in p}
        in_trees += nodes
        for path in paths:
            assert path[0] == root and not children.get(path[-1])  # root to leaf
            for up, down in pairwise(path):
                assert parents[down] == ids[up]  # each step is a real reply
        leaves = [n for n in nodes if not children.get(n)]
        assert len(paths) == len(leaves)  # one path per leaf, none duplicated
    assert len(in_trees) == len(set(in_trees))
    assert sorted(in_trees + list(problems)) == list(range(len(ids)))  # every message: a tree or a reason
    def reaches_root(node: int) -> bool:  # an independent oracle: follow the reply links upwards
        seen = set()
        while parents[node] is not None:
            if parents[node] not in ids or node in seen:
                return False
            seen.add(node)
            node = ids.index(parents[node])
        return True

    assert all(reaches_root(n) for n in in_trees)
    assert not any(reaches_root(n) for n in problems)
    assert all(reason in ("missing_parent", "reply_cycle") for reason, _ in problems.values())
    for kids in children.values():
        assert kids == sorted(kids)  # replies in file order
