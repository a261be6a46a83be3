"""`where:` expressions: a small, safe filter language compiled to polars expressions (never eval).

Grammar (keywords case-insensitive):
    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | test
    test       := column op value                       op: == = != <> < <= > >=
                | column ["not"] "in" "(" value ("," value)* ")"    (or [ ... ])
                | column "is" ["not"] "null"
                | column "matches" 'regex' | column "contains" 'text'
    column     := name (letters, digits, _ . -) or `any name in backticks`
    value      := number | 'text' | "text" | true | false

Values are compared as text (stripped), or as numbers when the value is a number (a cell that is not a
number then fails the test). A test on an empty cell is false, also under `not`; use `is null`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl


class WhereSyntaxError(ValueError):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),\[\]])
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][\w.\-]*)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "matches", "contains", "true", "false"}


@dataclass(frozen=True)
class Tok:
    kind: str  # op punct num str name kw end
    text: str
    pos: int


def _tokens(text: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise WhereSyntaxError(f"cannot read {text[pos:pos + 12]!r} at character {pos + 1} of {text!r}")
        kind, value = m.lastgroup, m.group()
        if kind == "name" and value.lower() in _KEYWORDS:
            out.append(Tok("kw", value.lower(), pos))
        elif kind == "quoted":
            out.append(Tok("name", value[1:-1], pos))
        elif kind == "str":
            out.append(Tok("str", re.sub(r"\\(.)", r"\1", value[1:-1]), pos))
        elif kind != "ws":
            out.append(Tok(kind, value, pos))
        pos = m.end()
    out.append(Tok("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str) -> WhereSyntaxError:
        tok = self.peek()
        got = "the end" if tok.kind == "end" else repr(tok.text)
        return WhereSyntaxError(f"expected {expected} at character {tok.pos + 1} of {self.text!r}, got {got}")

    def keyword(self, word: str) -> bool:
        if self.peek().kind == "kw" and self.peek().text == word:
            self.i += 1
            return True
        return False

    def expr(self):
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def term(self):
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def factor(self):
        if self.keyword("not"):
            return ("not", self.factor())
        if self.peek().kind == "punct" and self.peek().text == "(":
            self.take()
            inner = self.expr()
            if self.take().text != ")":
                self.i -= 1
                raise self.fail("')'")
            return inner
        return self.test()

    def value(self):
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text)
        if tok.kind == "str":
            return tok.text
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return tok.text == "true"
        self.i -= 1
        raise self.fail("a value (a number, 'text', true or false)")

    def test(self):
        tok = self.take()
        if tok.kind != "name":
            self.i -= 1
            raise self.fail("a column name")
        col = tok.text
        nxt = self.peek()
        if nxt.kind == "op":
            self.take()
            return ("cmp", col, {"=": "==", "<>": "!="}.get(nxt.text, nxt.text), self.value())
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.fail("'null'")
            return ("null", col, negated)
        negated = self.keyword("not")
        if self.keyword("in"):
            opener = self.take()
            if opener.text not in ("(", "["):
                self.i -= 1
                raise self.fail("'(' after in")
            values = [self.value()]
            while self.peek().text == ",":
                self.take()
                values.append(self.value())
            if self.take().text not in (")", "]"):
                self.i -= 1
                raise self.fail("')' closing the in list")
            node = ("in", col, values)
            return ("not", node) if negated else node
        if negated:
            raise self.fail("'in' after not")
        for word in ("matches", "contains"):
            if self.keyword(word):
                pattern = self.value()
                if not isinstance(pattern, str):
                    raise WhereSyntaxError(f"{word} needs a quoted text in {self.text!r}")
                if word == "matches":
                    try:
                        re.compile(pattern)
                    except re.error as e:
                        raise WhereSyntaxError(f"invalid regex {pattern!r} in {self.text!r}: {e}") from None
                return (word, col, pattern)
        raise self.fail("an operator (==, !=, <, <=, >, >=, in, is null, matches, contains)")


def parse_where(text: str):
    """The expression's syntax tree (nested tuples). Raises WhereSyntaxError with the position."""
    if not text or not text.strip():
        raise WhereSyntaxError("the where expression is empty")
    p = _Parser(text)
    tree = p.expr()
    if p.peek().kind != "end":
        raise p.fail("and / or / the end")
    return tree


def columns_of(tree) -> list[str]:
    """Column names the expression reads, in order of appearance."""
    kind = tree[0]
    if kind in ("or", "and"):
        return list(dict.fromkeys(c for part in tree[1] for c in columns_of(part)))
    if kind == "not":
        return columns_of(tree[1])
    return [tree[1]]


def _text(col: pl.Expr) -> pl.Expr:
    return col.cast(pl.Utf8).str.strip_chars()


def _typed(col: pl.Expr, value) -> tuple[pl.Expr, object]:
    if isinstance(value, bool):
        return _text(col).str.to_lowercase(), "true" if value else "false"
    if isinstance(value, float):
        return _text(col).cast(pl.Float64, strict=False), value
    return _text(col), value


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
        values = tree[2]
        if all(isinstance(v, float) and not isinstance(v, bool) for v in values):
            return _text(col).cast(pl.Float64, strict=False).is_in(values)
        return _text(col).is_in([_typed(col, v)[1] if isinstance(v, bool) else
                                 (format(v, "g") if isinstance(v, float) else v) for v in values])
    _, _, op, value = tree
    left, right = _typed(col, value)
    return {"==": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
            ">": left > right, ">=": left >= right}[op]


def where_mask(frame: pl.DataFrame, text: str, resolve: Callable[[str], str]) -> pl.Series:
    """True for rows that match (an empty cell under a test counts as not matching)."""
    expr = compile_where(parse_where(text), resolve)
    return frame.select(expr.fill_null(False).alias("m"))["m"]
