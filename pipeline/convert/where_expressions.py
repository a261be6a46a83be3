"""`where:` expressions evaluated: the syntax tree of schemas/where_syntax.py (the grammar and its parser)
compiled to a polars expression (never eval).

Values are compared as text (stripped), or as numbers when the value is a number (a cell that is not a
number then fails the test); an `in` list may mix both, each value compared its own way. A test on an
empty cell is false, also under `not`; use `is null`. `matches` runs polars' regex engine (Rust syntax),
the engine the config checks regexes with.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from schemas.where_syntax import parse_where


def _text(col: pl.Expr) -> pl.Expr:
    return col.cast(pl.Utf8).str.strip_chars()


def _typed(col: pl.Expr, value) -> tuple[pl.Expr, object]:
    if isinstance(value, bool):
        return _text(col).str.to_lowercase(), "true" if value else "false"
    if isinstance(value, float):
        return _text(col).cast(pl.Float64, strict=False), value
    return _text(col), value


def _typed_list(col: pl.Expr, values: list) -> tuple[pl.Expr, list]:
    """The cell side and the values of an `in` test on values of one kind (texts, numbers or booleans)."""
    left, _ = _typed(col, values[0])
    return left, [_typed(col, v)[1] for v in values]


def compile_where(tree, resolve: Callable[[str], str]) -> pl.Expr:
    """A boolean polars expression; `resolve` maps a written column name to a frame column (or raises)."""
    kind = tree[0]
    if kind == "or":
        return pl.any_horizontal([compile_where(t, resolve) for t in tree[1]])
    if kind == "and":
        return pl.all_horizontal([compile_where(t, resolve) for t in tree[1]])
    if kind == "not":
        return ~compile_where(tree[1], resolve)
    col = pl.col(resolve(tree[1]))
    if kind == "null":
        present = _text(col).is_not_null() & (_text(col) != "")
        return present if tree[2] else ~present
    if kind == "matches":
        return _text(col).str.contains(tree[2])
    if kind == "contains":
        return _text(col).str.contains(tree[2], literal=True)
    if kind == "in":
        by_kind: dict[str, list] = {}
        for v in tree[2]:
            by_kind.setdefault(type(v).__name__, []).append(v)
        tests = [left.is_in(right) for left, right in (_typed_list(col, vs) for vs in by_kind.values())]
        if len(tests) == 1:
            return tests[0]
        # mixed kinds: a cell that is no number fails only the numbers' test; an empty cell stays empty
        return pl.when(_text(col).is_null()).then(None).otherwise(pl.any_horizontal(t.fill_null(False)
                                                                                    for t in tests))
    _, _, op, value = tree
    left, right = _typed(col, value)
    return {"==": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
            ">": left > right, ">=": left >= right}[op]


def where_mask(frame: pl.DataFrame, text: str, resolve: Callable[[str], str]) -> pl.Series:
    """True for rows that match (an empty cell under a test counts as not matching)."""
    expr = compile_where(parse_where(text), resolve)
    return frame.select(expr.fill_null(False).alias("m"))["m"]
