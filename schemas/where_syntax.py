"""`where:` expressions, the syntax: text -> syntax tree (nested tuples). The config checks it when it
loads (regexes compiled by polars, the engine that runs them); pipeline/convert/where_expressions.py compiles the tree to polars expressions (never eval).

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

Inside quotes a backslash escapes the quote itself (\\' in '...') and, in a text value, a backslash
(\\\\ is one \\); every other backslash is kept as written, so `matches '\\d{3}'` is the regex \\d{3}. A
`matches` regex is kept exactly as written but for escaped quotes: the regex engine reads its escapes.
Regexes run on polars' engine (Rust regex syntax: no look-around, \\p{Greek} classes), so the parser
compiles them with polars too.
"""

from __future__ import annotations

import re
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
    text: str  # for str: as written between the quotes
    pos: int
    quote: str = ""


def _text_value(tok: Tok) -> str:
    """A quoted text: \\<quote> and \\\\ unescaped, any other backslash kept."""
    return re.sub(r"\\([\\" + tok.quote + "])", r"\1", tok.text)


def _regex_value(tok: Tok) -> str:
    """A quoted regex: only \\<quote> unescaped; the regex engine reads every other escape."""
    return tok.text.replace("\\" + tok.quote, tok.quote)


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
            out.append(Tok("str", value[1:-1], pos, quote=value[0]))
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
            return _text_value(tok)
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
                tok = self.peek()
                if tok.kind != "str":
                    raise WhereSyntaxError(f"{word} needs a quoted text in {self.text!r}")
                self.take()
                if word == "contains":
                    return (word, col, _text_value(tok))
                pattern = _regex_value(tok)
                problem = polars_regex_problem(pattern)
                if problem:
                    raise WhereSyntaxError(f"invalid regex {pattern!r} in {self.text!r}: {problem} (`matches` "
                                           f"uses Rust regex syntax, https://docs.rs/regex/latest/regex/#syntax)")
                return (word, col, pattern)
        raise self.fail("an operator (==, !=, <, <=, >, >=, in, is null, matches, contains)")


def polars_regex_problem(pattern: str) -> str | None:
    """Why polars' regex engine refuses `pattern` (in its own words), or None when it compiles."""
    try:
        pl.Series([""], dtype=pl.Utf8).str.contains(pattern)
    except pl.exceptions.ComputeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        return next((line.removeprefix("error: ") for line in lines if line.startswith("error:")), lines[0])
    return None


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
