"""The Arrow fast path and the exact csv-module path read any clean CSV into the same table."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.csv_reader import _read_csv_arrow, _read_csv_exact
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=15), st.sampled_from([",", ";", "\t"]))
def test_fast_and_exact_paths_agree(tmp_path, rows, sep):
    rows = [r for r in rows if any(r)]  # an all-empty record is a blank line: no record for either path
    if not rows:
        return
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n")
    w.writerow(["id", "speaker", "text"])
    w.writerows(rows)
    p = tmp_path / "t.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    src, opts = SourceFile(0, str(p), "csv"), CsvOptions(separator=sep)
    fast, exact = _read_csv_arrow(src, opts), _read_csv_exact(src, opts)
    assert exact.rejects == []
    if fast is None:  # a cell with a line break may be an unclosed quote: the exact path decides
        assert any("\n" in cell for row in rows for cell in row), "a clean UTF-8 CSV must take the fast path"
        return
    assert fast.n_rows == exact.n_rows
    assert fast.frame.to_dicts() == exact.frame.to_dicts()


def test_fast_path_declines_malformed_and_non_utf8(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n3\n")
    assert _read_csv_arrow(SourceFile(0, str(p), "csv"), CsvOptions()) is None
    p.write_bytes(b"a,b\n1,caf\xe9\n")
    assert _read_csv_arrow(SourceFile(0, str(p), "csv"), CsvOptions()) is None
    p.write_text("a,b\n1,2\n")
    assert _read_csv_arrow(SourceFile(0, str(p), "csv"), CsvOptions(encoding="cp1252")) is None


words = st.text(alphabet="abcxyz 019", min_size=1, max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(words, words, words), min_size=2, max_size=30), st.data())
def test_an_unclosed_quote_costs_one_row_on_both_paths(tmp_path, rows, data):
    """A line whose quote never closes is rejected (`unclosed_quote`) and every other record is read."""
    at = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.integers(0, 2))
    bad = [*rows[at]]
    bad[column] = '"' + bad[column]
    lines = ["id,speaker,text", *(",".join(r) for r in rows)]
    lines[at + 1] = ",".join(bad)
    p = tmp_path / "q.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    src, opts = SourceFile(0, str(p), "csv"), CsvOptions()
    assert _read_csv_arrow(src, opts) is None or at == len(rows) - 1 and column == 2
    table = _read_csv_exact(src, opts)
    assert table.n_rows == len(rows) and table.frame.height == len(rows) - 1
    (reject,) = table.rejects
    assert reject.row == at + 1 and reject.reason == "unclosed_quote"
    assert table.frame["__row"].to_list() == [n for n in range(1, len(rows) + 1) if n != at + 1]


def _prose_csv(tmp_path, n: int = 40):
    """Real-looking messages: line breaks, and lines with as many commas as a record has separators."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "speaker", "text"])
    for i in range(n):
        text = f"Mix the batter:\n1 cup flour, {i} eggs, 1/2 cup milk\nThen say \"done\", and rest, {i} min."
        w.writerow([f"c{i}", "agent", text])
        w.writerow([f"c{i}", "customer", "thanks"])
    p = tmp_path / "prose.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    return p


def test_prose_with_line_breaks_and_commas_takes_the_fast_path(tmp_path):
    """Such cells look like swallowed records; the file's quoting is checked (csv module, strict) and,
    being clean, Arrow's table stands: the same as the exact path's."""
    from pipeline.ingest.csv_reader import _may_hold_unclosed_quote

    p = _prose_csv(tmp_path)
    src, opts = SourceFile(0, str(p), "csv"), CsvOptions()
    exact = _read_csv_exact(src, opts)
    assert exact.rejects == [] and _may_hold_unclosed_quote([exact.frame.drop("__row")], ",")
    fast = _read_csv_arrow(src, opts)
    assert fast is not None and fast.n_rows == exact.n_rows == 80
    assert fast.frame.to_dicts() == exact.frame.to_dicts()
    # a record over half the exact path's record limit: the exact path reads it (or rejects it)
    assert _read_csv_arrow(src, opts, max_chars=160) is None and _read_csv_arrow(src, opts, max_chars=200) is not None


def test_a_stray_quote_among_such_prose_still_goes_to_the_exact_path(tmp_path):
    p = _prose_csv(tmp_path)
    lines = p.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("c7,customer"))
    lines[at] = 'c7,customer,"thanks'  # never closed: Arrow would swallow records up to the next quote
    p.write_text("\n".join(lines), encoding="utf-8")
    src, opts = SourceFile(0, str(p), "csv"), CsvOptions()
    assert _read_csv_arrow(src, opts) is None
    exact = _read_csv_exact(src, opts)
    assert [r.reason for r in exact.rejects] == ["unclosed_quote"] and exact.frame.height == 79
