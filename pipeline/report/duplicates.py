"""Duplicates: counts per relation, cluster sizes, the near-duplicate similarity histogram and the largest
clusters with the kept representative beside its members.

The dedup stage records the largest clusters (facts.dedup.top_clusters: ids, sources and a one-line
preview). The report shows the whole conversations where it still has them: the representative from the
exported examples, dropped members from the rejects; otherwise the stage's preview line.
"""

from __future__ import annotations

import polars as pl

from pipeline.report import charts
from pipeline.report.chat_preview import clip, preview
from pipeline.report.run_data import RunData, first_key, rows_text

MAX_CLUSTERS = 10
MAX_MEMBERS = 4
COUNT_KEYS = ("examples", "clusters", "examples_in_clusters", "exact_duplicates", "prompt_duplicates",
              "near_duplicates", "dropped", "groups_merged", "no_text")


def _full_examples(data: RunData, ids: set[str]) -> dict[str, str]:
    """example_id -> example JSON, looked up in the exported examples and the rejects."""
    if not ids:
        return {}
    wanted = pl.Series(list(ids), dtype=pl.Utf8).implode()
    out = {}
    rejects = data.rejects
    if "example_id" in rejects.columns and rejects.height:
        part = rejects.filter(pl.col("example_id").is_in(wanted) & pl.col("example").is_not_null())
        out.update(dict(part.select("example_id", "example").iter_rows()))
    out.update({k: v for k, v in data.texts(sorted(ids - set(out))).items() if v is not None})
    return out


def _item(obj, full: dict[str, str]) -> dict:
    if not isinstance(obj, dict):
        return {"id": None, "source": None, "extra": {}, "preview": {"messages": [], "more": 0,
                                                                   "raw": clip(str(obj), 600)}}
    eid = obj.get("example_id")
    source = obj.get("source_file")
    if source and obj.get("source_rows"):
        source = f"{source} rows {rows_text(obj['source_rows'])}"
    extra = {k: obj[k] for k in ("relation", "similarity") if obj.get(k) is not None}
    if obj.get("direct") is False:  # linked to the survivor only through other members
        extra["similarity"] = f"≈ {obj.get('similarity')} (via other members)"
    if eid in full:
        shown = preview(full[eid], max_messages=4, max_chars=300)
    else:
        shown = {"messages": [], "more": 0, "raw": clip(str(first_key(obj, "preview", "text", default="")), 600)}
    return {"id": eid, "source": source, "extra": extra, "preview": shown}


def duplicates(data: RunData) -> dict:
    if not data.ran("dedup"):
        return {"ran": False}
    facts = data.facts("dedup")
    top = [c for c in (facts.get("top_clusters") or []) if isinstance(c, dict)][:MAX_CLUSTERS]
    ids = set()
    for c in top:
        ids.add((c.get("representative") or {}).get("example_id"))
        ids.update(m.get("example_id") for m in (c.get("members") or [])[:MAX_MEMBERS] if isinstance(m, dict))
    full = _full_examples(data, {i for i in ids if i})
    clusters = []
    for c in top:
        members = [m for m in c.get("members") or [] if isinstance(m, dict)]
        relations = sorted({m.get("relation") for m in members if m.get("relation")})
        clusters.append({
            "kind": " + ".join(relations) or "cluster", "size": c.get("size") or len(members) + 1,
            "representative": _item(c.get("representative") or {}, full),
            "members": [_item(m, full) for m in members[:MAX_MEMBERS]],
            "more": max(0, len(members) - MAX_MEMBERS) + int(c.get("more_members") or 0)})
    near = facts.get("near") if isinstance(facts.get("near"), dict) else {}
    sim = charts.facts_histogram_spec("dup_similarity", "Near-duplicate candidate pairs by estimated similarity",
                                      near.get("similarity_histogram") or {}, "Jaccard similarity")
    sizes = facts.get("cluster_sizes") if isinstance(facts.get("cluster_sizes"), dict) else {}
    return {"ran": True, "clusters": clusters,
            "counts": {k: facts[k] for k in COUNT_KEYS if isinstance(facts.get(k), (int, float))},
            "action": facts.get("action"), "keep": facts.get("keep"), "cluster_sizes": sizes,
            "near": {k: near[k] for k in ("threshold", "shingle_size", "num_perm", "bands", "rows",
                                          "candidate_pairs", "verified_pairs") if k in near},
            "charts": [sim] if sim else []}
