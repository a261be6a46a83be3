"""Typed stage facts that merge by type: the facts of a run from the facts of its parts, in input order.

A chunked stage's `run` returns its facts as a dict whose leaves are typed facts (nested dicts are
namespaces and merge key by key). Every type merges associatively, so the facts of the whole input do
not depend on how it was cut into parts, and renders as the plain JSON that goes to stats.json:

  Sum(value)                     numbers that add
  Min(value) / Max(value)        the smallest / largest value; None = no value in this part
  Same(value)                    a constant every part must agree on (a model name, a cap): kept once
  Tally(counts, order)           key -> count, counts add; rendered in `order` (see TALLY_ORDERS)
  Histogram(edges, counts, labels=None)   fixed bins; counts add; parts with other edges are refused
  FirstN(limit, items)           the first `limit` items, in input order
  FirstNPerKey(limit, items)     {key: the first `limit` items of that key}, keys in first-seen order
  Concat(items)                  every item, in input order (for a stage that chooses from them later)

Plain (untyped) leaves — numbers, strings, lists, None — are refused by `merge` with the path of the
leaf, whatever the number of parts: a count left plain would otherwise be silently taken from one part.
`render` passes them through unchanged, so the plain facts of a whole-frame stage render as themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TALLY_ORDERS = ("first_seen", "key", "count", "count_then_key")  # or a tuple of the keys, in order


class FactMergeError(ValueError):
    """Parts whose facts cannot be merged: different types, constants, orders, edges or limits."""


class Fact:
    """A typed fact: `merged(other)` returns the fact of this part followed by `other`; `render()` its JSON."""

    def merged(self, other: Any) -> Fact:
        raise NotImplementedError

    def render(self) -> Any:
        raise NotImplementedError


def _agree(what: str, a, b) -> None:
    if a != b:
        raise FactMergeError(f"{what} differs between parts: {a!r} vs {b!r}")


@dataclass
class Sum(Fact):
    value: int | float = 0

    def merged(self, other: Sum) -> Sum:
        return Sum(self.value + other.value)

    def render(self) -> int | float:
        return self.value


@dataclass
class _Extreme(Fact):
    """The smallest (Min) or largest (Max) value of the parts; None = no value in a part."""

    value: Any = None
    pick = staticmethod(min)

    def merged(self, other: _Extreme) -> _Extreme:
        values = [v for v in (self.value, other.value) if v is not None]
        return type(self)(self.pick(values, default=None))

    def render(self) -> Any:
        return self.value


class Min(_Extreme):
    pick = staticmethod(min)


class Max(_Extreme):
    pick = staticmethod(max)


@dataclass
class Same(Fact):
    value: Any

    def merged(self, other: Same) -> Same:
        _agree("constant", self.value, other.value)
        return self

    def render(self) -> Any:
        return self.value


@dataclass
class Tally(Fact):
    """Counts per key. `counts` keeps its keys in first-seen order; the rendering orders them by `order`:
    first_seen; key (sorted keys); count (descending, ties first-seen); count_then_key (descending, ties by
    key); or a tuple of keys (their order; a key outside it is an error)."""

    counts: dict = field(default_factory=dict)
    order: str | tuple = "first_seen"

    def __post_init__(self):
        if not isinstance(self.order, tuple) and self.order not in TALLY_ORDERS:
            raise ValueError(f"Tally order {self.order!r}: one of {TALLY_ORDERS} or a tuple of keys")
        self.counts = dict(self.counts)

    def merged(self, other: Tally) -> Tally:
        _agree("Tally order", self.order, other.order)
        counts = dict(self.counts)
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        return Tally(counts, self.order)

    def render(self) -> dict:
        items = list(self.counts.items())
        if isinstance(self.order, tuple):
            unknown = [k for k in self.counts if k not in self.order]
            if unknown:
                raise ValueError(f"Tally keys {unknown!r} are not in its order {self.order!r}")
            return {k: self.counts[k] for k in self.order if k in self.counts}
        if self.order == "key":
            items.sort()
        elif self.order == "count":
            items.sort(key=lambda kv: -kv[1])
        elif self.order == "count_then_key":
            items.sort(key=lambda kv: (-kv[1], kv[0]))
        return dict(items)


@dataclass
class Histogram(Fact):
    """Counts per fixed bin (bin i = [edges[i], edges[i+1]) as the stage defines it); `labels` are shown
    with them when given. Renders as {edges, labels?, counts}."""

    edges: list
    counts: list
    labels: list | None = None

    def merged(self, other: Histogram) -> Histogram:
        _agree("Histogram edges", self.edges, other.edges)
        _agree("Histogram labels", self.labels, other.labels)
        return Histogram(self.edges, [a + b for a, b in zip(self.counts, other.counts, strict=True)], self.labels)

    def render(self) -> dict:
        labels = {"labels": list(self.labels)} if self.labels is not None else {}
        return {"edges": list(self.edges), **labels, "counts": list(self.counts)}


@dataclass
class FirstN(Fact):
    limit: int
    items: list = field(default_factory=list)

    def __post_init__(self):
        self.items = list(self.items[:self.limit])

    def merged(self, other: FirstN) -> FirstN:
        _agree("FirstN limit", self.limit, other.limit)
        return FirstN(self.limit, self.items + other.items[:self.limit - len(self.items)])

    def render(self) -> list:
        return list(self.items)


@dataclass
class FirstNPerKey(Fact):
    """FirstN per key; a key seen with no item kept (limit 0, or none offered) stays, with []."""

    limit: int
    items: dict = field(default_factory=dict)

    def __post_init__(self):
        self.items = {k: list(v[:self.limit]) for k, v in self.items.items()}

    def merged(self, other: FirstNPerKey) -> FirstNPerKey:
        _agree("FirstNPerKey limit", self.limit, other.limit)
        items = {k: list(v) for k, v in self.items.items()}
        for key, more in other.items.items():
            kept = items.setdefault(key, [])
            kept += more[:self.limit - len(kept)]
        return FirstNPerKey(self.limit, items)

    def render(self) -> dict:
        return {k: list(v) for k, v in self.items.items()}


@dataclass
class Concat(Fact):
    items: list = field(default_factory=list)

    def merged(self, other: Concat) -> Concat:
        return Concat(self.items + other.items)

    def render(self) -> list:
        return list(self.items)


def merge(parts: list[dict]) -> dict:
    """The typed facts of the parts, in input order, merged key by key (an empty list: {})."""
    merged: dict = {}
    for part in parts:
        merged = _merge_dicts(merged, part, ())
    return merged


def render(facts: dict) -> dict:
    """Typed facts as plain JSON values; plain values pass through."""
    return {k: _render(v) for k, v in facts.items()}


def merge_parts(parts: list[dict]) -> dict:
    """render(merge(parts)): the plain facts of the whole input from the typed facts of its parts."""
    return render(merge(parts))


def _render(value):
    if isinstance(value, Fact):
        return value.render()
    if isinstance(value, dict):
        return render(value)
    return value


def _merge_dicts(a: dict, b: dict, path: tuple) -> dict:
    out = dict(a)
    for key, value in b.items():
        at = (*path, key)
        if isinstance(value, dict):
            before = a.get(key, {})
            if not isinstance(before, dict):
                raise FactMergeError(f"facts {_dotted(at)}: a dict in one part, {type(before).__name__} in another")
            out[key] = _merge_dicts(before, value, at)
        elif not isinstance(value, Fact):
            raise FactMergeError(f"facts {_dotted(at)}: plain {type(value).__name__} {value!r} cannot be merged "
                                 "(use a typed fact, e.g. Same for a constant)")
        elif key not in a:
            out[key] = value
        elif type(a[key]) is not type(value):
            raise FactMergeError(f"facts {_dotted(at)}: {type(a[key]).__name__} in one part, "
                                 f"{type(value).__name__} in another")
        else:
            try:
                out[key] = a[key].merged(value)
            except FactMergeError as e:
                raise FactMergeError(f"facts {_dotted(at)}: {e}") from None
    return out


def _dotted(path: tuple) -> str:
    return ".".join(map(str, path))
