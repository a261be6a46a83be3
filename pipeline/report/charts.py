"""Chart specs: small JSON dicts that templates/report.js turns into Chart.js charts.

A spec is {"id", "kind": "bar" | "line" | "hbar" | "stacked_hbar", "title", "labels", "datasets": [{"label", "data"}],
"x_title", "y_title", optional "marker": {"at": fractional category index, "label"} (a vertical line such
as the token limit), optional "percent": true (values are percentages)}. Binning happens here, in polars,
so the page only ever receives bin counts, never raw values.
"""

from __future__ import annotations

import math

import polars as pl

MAX_BINS = 40


def nice_width(span: float, bins: int = MAX_BINS) -> int:
    """A bin width of 1, 2 or 5 × 10^k (at least 1) giving about `bins` bins over `span`."""
    raw = max(span / bins, 1.0)
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * exp:
            return int(m * exp)
    return int(10 * exp)


def summary(values: pl.Series) -> dict | None:
    """n, min, median, mean, p95, max of a numeric series (None when empty)."""
    values = values.drop_nulls()
    if values.len() == 0:
        return None
    return {"n": values.len(), "min": _num(values.min()), "median": _num(values.median()),
            "mean": round(float(values.mean()), 1), "p95": _num(values.quantile(0.95, "nearest")),
            "max": _num(values.max())}


def _num(v):
    return int(v) if v is not None and float(v).is_integer() else round(float(v), 1)


def bins_for(values: list[pl.Series], marker: float | None = None, max_bins: int = MAX_BINS) -> tuple[int, int, int]:
    """Shared (width, n_bins, top) for several series: linear bins from 0; values >= top go to an overflow bin.

    The range ends near the largest value unless a few outliers are far out (then at the 99.5th percentile,
    with an overflow bin). A marker (e.g. the token limit) inside or just past the range is included.
    """
    present = [v.drop_nulls() for v in values if v.drop_nulls().len()]
    if not present:
        return 1, 1, 1
    both = pl.concat([v.cast(pl.Float64) for v in present])
    hi, p995 = float(both.max()), float(both.quantile(0.995, "nearest"))
    top = hi if hi <= 3 * max(p995, 1) else p995
    if marker is not None and top < marker <= 1.5 * top:
        top = marker * 1.02
    width = nice_width(top + 1, max_bins)
    n_bins = max(1, math.floor(top / width) + 1)
    return width, n_bins, n_bins * width


def histogram(values: pl.Series, width: int, n_bins: int, percent: bool = False) -> tuple[list, int]:
    """Counts per bin [k*width, (k+1)*width) plus the overflow count (values >= n_bins*width)."""
    values = values.drop_nulls().cast(pl.Int64)
    idx = (values // width).clip(0, n_bins)
    counts = idx.value_counts().sort(idx.name)
    out = [0] * (n_bins + 1)
    for k, n in counts.iter_rows():
        out[int(k)] = int(n)
    total = values.len()
    if percent and total:
        out = [round(100 * c / total, 2) for c in out]
    return out[:n_bins], out[n_bins]


def bin_labels(width: int, n_bins: int, overflow: bool) -> list[str]:
    if width == 1:
        labels = [f"{k:,}" for k in range(n_bins)]
    else:
        labels = [f"{k * width:,}–{(k + 1) * width - 1:,}" for k in range(n_bins)]
    return labels + ([f"≥ {n_bins * width:,}"] if overflow else [])


def histogram_spec(spec_id: str, title: str, series: dict[str, pl.Series], x_title: str,
                   marker: tuple[float, str] | None = None, percent: bool = False,
                   unit: str = "examples") -> dict | None:
    """One histogram chart; several series share bins (shown side by side). None when there is no data."""
    series = {k: v for k, v in series.items() if v is not None and v.drop_nulls().len()}
    if not series:
        return None
    width, n_bins, top = bins_for(list(series.values()), marker[0] if marker else None,
                                  MAX_BINS if len(series) == 1 else MAX_BINS // 2)
    hists = {k: histogram(v, width, n_bins, percent) for k, v in series.items()}
    overflow = any(o for _, o in hists.values())
    datasets = [{"label": k, "data": h + ([o] if overflow else [])} for k, (h, o) in hists.items()]
    kind = "bar" if len(series) == 1 else "line"  # several series compare better as lines
    spec = {"id": spec_id, "kind": kind, "title": title, "labels": bin_labels(width, n_bins, overflow),
            "datasets": datasets, "x_title": x_title,
            "y_title": f"% of {unit}" if percent else unit, "percent": percent}
    if marker is not None:
        at, label = marker
        n_cats = n_bins + (1 if overflow else 0)
        pos = at / width if at < top else n_cats
        spec["marker"] = {"at": min(pos, n_cats), "label": label if at < top else f"{label} (off scale →)"}
    return spec


def bar_spec(spec_id: str, title: str, counts: dict[str, int | float], x_title: str, y_title: str,
             horizontal: bool = True, percent: bool = False) -> dict | None:
    if not counts:
        return None
    return {"id": spec_id, "kind": "hbar" if horizontal else "bar", "title": title,
            "labels": list(counts), "datasets": [{"label": y_title, "data": list(counts.values())}],
            "x_title": x_title, "y_title": y_title, "percent": percent}


def stacked_spec(spec_id: str, title: str, labels: list[str], parts: dict[str, list[int]],
                 x_title: str) -> dict | None:
    if not labels:
        return None
    return {"id": spec_id, "kind": "stacked_hbar", "title": title, "labels": labels,
            "datasets": [{"label": k, "data": v} for k, v in parts.items()], "x_title": x_title,
            "y_title": "", "percent": False}


def _edge(v) -> str:
    if isinstance(v, (int, float)) and v >= 10**8:
        return "∞"
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def facts_histogram_spec(spec_id: str, title: str, hist: dict, x_title: str, log: bool = False) -> dict | None:
    """A histogram a stage recorded in its facts: {counts, labels?, edges? (len(counts) + 1), limit?}."""
    counts = hist.get("counts") if isinstance(hist, dict) else None
    if not isinstance(counts, list) or not counts or not any(counts):
        return None
    labels, edges = hist.get("labels"), hist.get("edges")
    if not (isinstance(labels, list) and len(labels) == len(counts)):
        if isinstance(edges, list) and len(edges) == len(counts) + 1:
            labels = [f"{_edge(edges[i])}–{_edge(edges[i + 1])}" for i in range(len(counts))]
        else:
            labels = [str(i) for i in range(len(counts))]
    spec = {"id": spec_id, "kind": "bar", "title": title, "labels": [str(x) for x in labels],
            "datasets": [{"label": "count", "data": counts}], "x_title": x_title, "y_title": "count",
            "percent": False, "log": log}
    limit = hist.get("limit")
    if isinstance(limit, (int, float)) and isinstance(edges, list) and len(edges) == len(counts) + 1:
        for i in range(len(counts)):
            if edges[i] <= limit < edges[i + 1]:
                at = i + (limit - edges[i]) / (edges[i + 1] - edges[i])
                spec["marker"] = {"at": at, "label": f"limit {limit:,}"}
                break
        else:
            spec["marker"] = {"at": len(counts), "label": f"limit {limit:,} (off scale →)"}
    return spec
