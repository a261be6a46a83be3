"""`where:` expressions: backslashes in quotes kept for regexes, regexes checked at config load by the engine
that runs them (polars), mixed `in` lists compare numbers as numbers and texts as texts."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config_loader import load_config
from pipeline.convert.where_expressions import where_mask
from pipeline.errors import UserError
from schemas.where_syntax import WhereSyntaxError, parse_where, polars_regex_problem
from tests.conftest import read_jsonl

CELLS = pl.DataFrame({"x": ["123", "ddd", "1234567", "1.23457e+06", "a", "b", "αβγ", "it's", None, "C:\\tmp"]})


def matching(text: str) -> list[str]:
    mask = where_mask(CELLS, text, lambda name: name)
    return [v for v, m in zip(CELLS["x"].to_list(), mask.to_list(), strict=True) if m]


# --------------------------------------------------------------------------- units


def test_backslash_escapes_reach_the_regex():
    assert parse_where(r"x matches '\d{3}'") == ("matches", "x", r"\d{3}")
    assert matching(r"x matches '^\d{3}$'") == ["123"]
    assert matching(r'x matches "^\w+$"') == ["123", "ddd", "1234567", "a", "b", "αβγ"]
    assert matching(r"x matches '\\'") == ["C:\\tmp"]  # \\ in a regex is one literal backslash


def test_an_escaped_quote_is_the_quote():
    assert parse_where(r"x == 'it\'s'") == ("cmp", "x", "==", "it's")
    assert parse_where(r"x matches 'it\'s'") == ("matches", "x", "it's")
    assert matching(r"x == 'it\'s'") == ["it's"]
    assert matching(r'x contains "t\"s"') == []


def test_a_text_value_keeps_other_backslashes_and_reads_a_double_one_as_one():
    assert parse_where(r"x == 'C:\tmp'") == ("cmp", "x", "==", "C:\\tmp")
    assert parse_where(r"x == 'C:\\tmp'") == ("cmp", "x", "==", "C:\\tmp")
    assert matching(r"x contains ':\t'") == ["C:\\tmp"]


def test_regexes_are_checked_by_polars_engine():
    assert polars_regex_problem(r"\p{Greek}") is None
    assert "look-around" in polars_regex_problem("(?=a)b")
    assert matching(r"x matches '^\p{Greek}+$'") == ["αβγ"]
    with pytest.raises(WhereSyntaxError, match=r"invalid regex '\(\?=a\)b' .*look-around.*Rust regex syntax"):
        parse_where("x matches '(?=a)b'")
    with pytest.raises(WhereSyntaxError, match="invalid regex '\\(' .*unclosed group"):
        parse_where("x matches '('")


def test_mixed_in_lists_compare_numbers_as_numbers():
    assert matching("x in (1234567, 'a')") == ["1234567", "a"]
    assert matching("x in (1234567)") == ["1234567"]
    assert matching("not x in (1234567, 'a')") == ["123", "ddd", "1.23457e+06", "b", "αβγ", "it's", "C:\\tmp"]
    flags = pl.DataFrame({"x": ["TRUE", "no", "3", None]})
    assert where_mask(flags, "x in (true, 3)", lambda n: n).to_list() == [True, False, True, False]


# --------------------------------------------------------------------------- config and command line


def write_config(tmp_path, where: str, name: str = "c.yaml"):
    data = tmp_path / "chats.csv"
    rows = [("q1", "a1", "123"), ("q2", "a2", "ddd"), ("q3", "a3", "1234567"), ("q4", "a4", "x"),
            ("q5", "a5", "αβ")]
    pl.DataFrame(rows, schema=["prompt", "answer", "code"], orient="row").write_csv(data)
    path = tmp_path / name
    path.write_text(f"inputs:\n  - path: {data}\n    layout: pairs\n    columns: {{prompt: prompt, response: answer}}\n"
                    f"    metadata: [code]\n    where: {where}\n"
                    f"cache: {{dir: {tmp_path / '.cache'}}}\nstages:\n  - name: export\n")
    return path


def test_check_config_refuses_a_regex_polars_cannot_run(tmp_path, capsys):
    path = write_config(tmp_path, "\"code matches '(?=a)b'\"")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: inputs[0].where: invalid regex '(?=a)b'" in err and "look-around" in err
    assert "(line 6, column 5)" in err and "Traceback" not in err
    with pytest.raises(UserError, match="invalid regex"):
        load_config(path)


@pytest.mark.parametrize("where, kept", [
    (r"code matches '^\d{3}$'", ["q1"]),
    (r"code matches '\p{Greek}'", ["q5"]),
    ("code in (1234567, 'x')", ["q3", "q4"]),
])
def test_where_end_to_end(tmp_path, where, kept):
    from pipeline.runner import run_pipeline

    path = write_config(tmp_path, where)
    result = run_pipeline(load_config(path), str(path), tmp_path / "out", quiet=True)
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == 5
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert sorted(ex["messages"][0]["content"] for ex in train) == kept
    rejects = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert len(rejects) == 5 - len(kept) and {r["reason"] for r in rejects} == {"excluded_by_where"}
