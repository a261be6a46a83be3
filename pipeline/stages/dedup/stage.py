"""dedup (global): exact, prompt-side and near-duplicate conversations, one survivor per cluster.

Every example gets fingerprints (fingerprints.py beside this module). Duplicate relations:
  exact   equal normalized conversations (casefolded, whitespace collapsed, roles + tools)   [exact]
  prompt  equal prompt side: all messages before the last assistant reply                  [exact_prompt]
  near    Jaccard of word shingles >= threshold: equal token sequences directly, the rest by MinHash
          LSH (pipeline/near_duplicates) with explicit bands x rows and verified pairs       [near]
The relations are joined into connected components (A~B, B~C -> one cluster). In each cluster the
`keep` policy picks one survivor (first | longest | meta:<column>, highest wins, ties -> first).
With `action: drop` the others are dropped with reason `exact_duplicate`, `prompt_duplicate` or
`near_duplicate` (their relation to the survivor) and a detail naming the survivor's source file +
rows and the similarity. With `action: group` nothing is dropped: each cluster's split groups are
merged (group_id) so the cluster lands wholly in train or in validation.
Adds column `dup_cluster`: the survivor's example_id for members of a cluster, null otherwise
(the split stage counts straddling pairs with it).

facts keys:
  examples, action, keep            input size and policy
  exact_duplicates, prompt_duplicates, near_duplicates   members (not survivors) by relation to the survivor
  dropped                           rows dropped (0 with action: group)
  clusters, examples_in_clusters    components of size >= 2 and their total size
  cluster_sizes                     {"2", "3-5", "6-10", "11-50", "51+"} -> number of clusters
  no_text                           examples with no words (left out of near-duplicate search)
  keep_missing_scores               (keep: meta:<col>) cluster members without a numeric score
  groups_merged                     (action: group) split groups absorbed into another
  near                              {threshold, shingle_size, num_perm, bands, rows, auto_banding, seed,
                                     verify, include_system, s_curve [[jaccard, P(candidate)]...],
                                     lsh_examples, identical_text_pairs, candidate_pairs, checked_pairs,
                                     verified_pairs, capped_buckets, similarity_histogram {edges, counts}}
  top_clusters                      largest 50: {cluster, size, representative {example_id, source_file,
                                     source_rows, preview}, members [up to 10: + relation, similarity,
                                     direct (false: linked to the survivor only through other members;
                                     similarity then estimated)], more_members}
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from pipeline.engine.stage import Problem, StageContext, StageOutput, with_drops
from pipeline.errors import UserError
from pipeline.stages.dedup.fingerprints import (
    RATINGS_PROMPT,
    Fingerprints,
    FingerprintSpec,
    fingerprint_examples,
    pair_jaccard,
)
from pipeline.stages.dedup.near_duplicates import (
    CLUSTER_COLUMN,
    LshSettings,
    choose_banding,
    connected_components,
    near_duplicate_pairs,
    s_curve,
)
from pipeline.stages.dedup.near_duplicates.signatures import SignatureRows, estimated_jaccard
from pipeline.targets.target_drops import COLUMN as TARGET_DROPS

PREFERENCE = True  # pairs: exact and near keys cover prompt, chosen and rejected (fingerprints.py); prompt keys the prompt
RUNS = "whole_without_text"  # fingerprints come from `features`, part by part; texts fetched by id
TOP_CLUSTERS, TOP_MEMBERS, PREVIEW_CHARS = 50, 10, 100
MANY_DUPLICATES = 0.3
REASONS = {"exact": "exact_duplicate", "prompt": "prompt_duplicate", "near": "near_duplicate"}


def _spec(params) -> FingerprintSpec:
    return FingerprintSpec(params.shingle_size, params.num_perm, params.seed, params.include_system, params.near)


def features(part: pl.DataFrame, params) -> pl.DataFrame:
    """Per-row fingerprints of one part of the examples (batch-pure; the runner runs it in its pool)."""
    return fingerprint_examples(part["example"], _spec(params)).to_frame()


class _Texts:
    """Example texts by row: from the frame's `example` column, or fetched by example_id (ctx.texts)."""

    def __init__(self, frame: pl.DataFrame, ctx: StageContext):
        self.frame, self.ctx = frame, ctx

    def at(self, rows: np.ndarray) -> list[str]:
        if "example" in self.frame.columns:
            return self.frame["example"].gather(rows).to_list()
        ids = self.frame["example_id"].gather(rows).to_list()
        found = self.ctx.texts(ids) if self.ctx.texts else {}
        return [found.get(i, "") for i in ids]


def _first_equal(keys) -> np.ndarray:
    """For each position, the first position holding an equal key (-1 where the key is None).
    `keys`: a list or a polars Utf8 Series."""
    df = (keys.rename("k").to_frame() if isinstance(keys, pl.Series)
          else pl.DataFrame({"k": keys}, schema={"k": pl.Utf8})).with_row_index("i")
    first = df.select(pl.when(pl.col("k").is_null()).then(-1).otherwise(pl.col("i").min().over("k")))
    return first.to_series().cast(pl.Int64).to_numpy()


def _target_drop_counts(frame: pl.DataFrame) -> np.ndarray | None:
    """Per example, how many targets already reject it (several targets: pipeline/targets/target_drops.py), so a
    cluster keeps a copy every target can take where there is one."""
    if TARGET_DROPS not in frame.columns:
        return None
    return frame[TARGET_DROPS].map_elements(lambda v: len(json.loads(v)), return_dtype=pl.Int64).fill_null(0).to_numpy()


def _keep_scores(frame: pl.DataFrame, keep: str, n_chars: np.ndarray) -> np.ndarray | None:
    """Higher survives; None means `first`. Missing meta values are -inf."""
    if keep == "first":
        return None
    if keep == "longest":
        return n_chars.astype(np.float64)
    name = keep.removeprefix("meta:")
    col = name if name in frame.columns else f"meta.{name.removeprefix('meta.')}"
    if col not in frame.columns:
        meta = [c for c in frame.columns if c.startswith("meta.")]
        raise UserError(f"stages.dedup.keep: column {name!r} not found; metadata columns: {', '.join(meta) or 'none'} "
                        f"(list raw columns under inputs[].metadata to carry them)")
    raw = frame[col]
    values = raw.cast(pl.Float64, strict=False)
    if raw.null_count() < raw.len() and values.null_count() == raw.len():
        sample = raw.drop_nulls().head(3).to_list()
        raise UserError(f"stages.dedup.keep: column {col!r} must hold numbers (higher is better); found e.g. {sample}")
    return values.fill_nan(None).fill_null(-np.inf).to_numpy()


def _rows_text(rows: list[int] | None) -> str:
    """[3, 4, 5, 9] -> 'rows 3-5, 9'."""
    if not rows:
        return "(no rows)"
    rows = sorted(rows)
    runs, start = [], rows[0]
    for prev, cur in zip(rows, rows[1:] + [None]):
        if cur is None or cur != prev + 1:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(runs)


def _preview(example: str) -> str:
    try:
        messages = json.loads(example).get("messages") or []
    except (ValueError, AttributeError):
        return str(example)[:PREVIEW_CHARS]
    first = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None) or \
        next((m for m in messages if isinstance(m, dict)), {})
    text = first.get("content")
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


def _near_edges(params, fp, texts: _Texts, executor, bands: int, rows: int, near_facts: dict):
    """(left, right, similarity) between examples; identical token sequences first, then verified LSH pairs."""
    first = _first_equal(fp.near_key)
    idx = np.arange(len(first))
    same = (first >= 0) & (first != idx)
    lefts, rights, sims = [first[same]], [idx[same]], [np.ones(int(same.sum()))]
    reps = idx[first == idx]
    near_facts.update(lsh_examples=int(reps.size), identical_text_pairs=int(same.sum()))
    if reps.size >= 2:
        spec = FingerprintSpec(params.shingle_size, params.num_perm, params.seed, params.include_system, False)

        def verify(left: np.ndarray, right: np.ndarray) -> np.ndarray:   # in tasks on the executor
            return pair_jaccard(left, right, lambda rows_: texts.at(reps[rows_]), spec, executor)

        settings = LshSettings(params.threshold, bands, rows, params.bucket_limit, params.verify)
        pairs = near_duplicate_pairs(SignatureRows.of(fp.signatures).select(reps), settings, verify, executor)
        lefts.append(reps[pairs.left])
        rights.append(reps[pairs.right])
        sims.append(pairs.similarity)
        edges = np.round(np.linspace(params.threshold, 1.0, 6), 4)
        counts = np.histogram(pairs.similarity, bins=edges)[0] if pairs.similarity.size else np.zeros(5, int)
        near_facts.update(candidate_pairs=pairs.candidates, checked_pairs=pairs.checked,
                          verified_pairs=int(pairs.left.size), capped_buckets=pairs.capped_buckets,
                          similarity_histogram={"edges": edges.tolist(), "counts": counts.tolist()})
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(sims), first


def _ratings_siblings(prompt, prompt_first: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """True where left[i] and right[i] are two pairs built from the ratings of one prompt: the ratings layout
    paired that prompt's replies on purpose (capped by max_pairs_per_prompt), so they are never near duplicates
    of each other (no link between them, and none dropped for the other's sake)."""
    keys = prompt if isinstance(prompt, pl.Series) else pl.Series(prompt, dtype=pl.Utf8)
    ratings = keys.str.starts_with(RATINGS_PROMPT).fill_null(False).to_numpy()
    if left.size == 0 or not ratings.any():
        return np.zeros(left.size, dtype=bool)
    return ratings[left] & ratings[right] & (prompt_first[left] == prompt_first[right])


def _survivors(labels: np.ndarray, scores: np.ndarray | None, penalty: np.ndarray | None = None) -> np.ndarray:
    """For each example, the index of its cluster's survivor: with several targets first one that the most of them
    take (fewest target drops), then the highest score, ties -> lowest index."""
    n = len(labels)
    score = np.zeros(n) if scores is None else scores
    penalty = np.zeros(n) if penalty is None else penalty
    order = np.lexsort((np.arange(n), -score, penalty, labels))   # by label, penalty, score desc, index
    lab_sorted = labels[order]
    is_first = np.ones(n, dtype=bool)
    is_first[1:] = lab_sorted[1:] != lab_sorted[:-1]
    best = np.empty(n, dtype=np.int64)
    best[lab_sorted[is_first]] = order[is_first]
    return best[labels]


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    n = frame.height
    if n == 0:
        empty = frame.with_columns(pl.lit(None, pl.Utf8).alias(CLUSTER_COLUMN))
        return StageOutput(with_drops(empty, [], []), {"examples": 0, "dropped": 0, "clusters": 0})
    texts = _Texts(frame, ctx)
    auto = params.bands is None
    bands, rows = choose_banding(params.threshold, params.num_perm) if auto else (params.bands, params.rows)
    if "__fp_exact" in frame.columns:  # computed by `features` (the runner's path)
        fp = Fingerprints.from_frame(frame, params.num_perm)
        # the output needs no feature column; and with_columns on a frame whose columns are chunked differently
        # (the features come one chunk per part) copies every column into one chunk: ~0.7 GB at 1M
        frame = frame.drop([c for c in frame.columns if c.startswith("__fp_")])
    else:
        fp = fingerprint_examples(frame["example"], _spec(params), ctx.executor, ctx.progress)
    scores = _keep_scores(frame, params.keep, fp.n_chars)

    idx = np.arange(n, dtype=np.int64)
    lefts, rights = [], []
    exact_first = _first_equal(fp.exact)
    prompt_first = _first_equal(fp.prompt)
    for enabled, first in ((params.exact, exact_first), (params.exact_prompt, prompt_first)):
        if enabled:
            linked = (first >= 0) & (first != idx)
            lefts.append(first[linked])
            rights.append(idx[linked])
    near_facts = {"threshold": params.threshold, "shingle_size": params.shingle_size, "num_perm": params.num_perm,
                  "bands": bands, "rows": rows, "auto_banding": auto, "seed": params.seed, "verify": params.verify,
                  "include_system": params.include_system, "s_curve": s_curve(bands, rows)}
    pair_sim: dict[tuple[int, int], float] = {}
    near_first = np.full(n, -1, dtype=np.int64)
    if params.near:
        nl, nr, ns, near_first = _near_edges(params, fp, texts, ctx.executor, bands, rows, near_facts)
        apart = _ratings_siblings(fp.prompt, prompt_first, nl, nr)
        nl, nr, ns = nl[~apart], nr[~apart], ns[~apart]
        near_facts["ratings_siblings_kept_apart"] = int(apart.sum())
        lefts.append(nl)
        rights.append(nr)
        pair_sim = dict(zip(zip(np.minimum(nl, nr).tolist(), np.maximum(nl, nr).tolist()), ns.tolist()))
    left = np.concatenate(lefts) if lefts else np.empty(0, np.int64)
    right = np.concatenate(rights) if rights else np.empty(0, np.int64)
    labels = connected_components(n, left, right)
    sizes = np.bincount(labels, minlength=n)[labels]
    survivor = _survivors(labels, scores, _target_drop_counts(frame))
    if params.near and not params.exact_prompt:  # a cluster reached through another prompt's pairs keeps every pair of its survivor's prompt
        siblings = _ratings_siblings(fp.prompt, prompt_first, idx, survivor) & (exact_first != exact_first[survivor])
        survivor = np.where(siblings, idx, survivor)

    relation: list[str | None] = [None] * n
    similarity: list[float | None] = [None] * n
    direct = [True] * n
    for i in np.flatnonzero(survivor != idx).tolist():   # equal keys <=> the same first holder of the key
        k = int(survivor[i])
        if params.exact and exact_first[i] == exact_first[k]:
            relation[i] = "exact"
        elif params.exact_prompt and prompt_first[i] >= 0 and prompt_first[i] == prompt_first[k]:
            relation[i] = "prompt"
        else:
            relation[i] = "near"
            ri, rk = int(near_first[i]), int(near_first[k])
            if ri >= 0 and ri == rk:
                similarity[i] = 1.0
            elif (min(i, k), max(i, k)) in pair_sim:
                similarity[i] = pair_sim[(min(i, k), max(i, k))]
            elif ri >= 0 and rk >= 0:
                similarity[i] = float(estimated_jaccard(fp.signatures, np.array([ri]), np.array([rk]))[0])
                direct[i] = False
            else:
                direct[i] = False

    src_files, src_rows, ids = frame["source_file"], frame["source_rows"], frame["example_id"]

    kept_of_dropped = np.unique(survivor[survivor != idx])   # read from the frame at once, not row by row
    places = dict(zip(kept_of_dropped.tolist(), (f"{f} {_rows_text(r)}" for f, r in zip(
        src_files.gather(kept_of_dropped).to_list(), src_rows.gather(kept_of_dropped).to_list()))))

    def where(k: int) -> str:
        return places[k]

    def detail(i: int) -> str:
        k, rel = int(survivor[i]), relation[i]
        if rel == "exact":
            return f"same conversation as kept example {where(k)} (equal after casefolding and collapsing whitespace)"
        if rel == "prompt":
            return (f"same prompt as kept example {where(k)} (every message before the last assistant reply); "
                    "only the answer differs")
        sim = similarity[i]
        if direct[i]:
            return f"near-duplicate of kept example {where(k)}: Jaccard {sim:.2f} on {params.shingle_size}-word shingles"
        measured = f"estimated Jaccard {sim:.2f} to it" if sim is not None else "no words to compare"
        return (f"in one near-duplicate cluster of {sizes[i]} with kept example {where(k)}, linked through other "
                f"members ({measured}; threshold {params.threshold})")

    in_cluster = sizes >= 2
    out = frame.with_columns(pl.when(pl.Series(in_cluster)).then(ids.gather(survivor)).otherwise(None)
                             .alias(CLUSTER_COLUMN))
    facts = _facts(params, n, relation, labels, sizes, in_cluster, near_facts)
    if params.action == "group":
        out, facts["groups_merged"] = _merge_groups(out, survivor, in_cluster)
        reasons, details = [None] * n, [None] * n
    else:
        reasons = [REASONS[r] if r else None for r in relation]
        details = [detail(i) if relation[i] else None for i in range(n)]
    facts["dropped"] = sum(r is not None for r in reasons)
    if scores is not None and params.keep.startswith("meta:"):
        facts["keep_missing_scores"] = int(np.count_nonzero(np.isneginf(scores) & in_cluster))
    facts["no_text"] = (fp.near_key.null_count() if isinstance(fp.near_key, pl.Series)
                        else sum(k is None for k in fp.near_key)) if params.near else None
    facts["top_clusters"] = _top_clusters(labels, sizes, survivor, relation, similarity, direct, texts,
                                          src_files, src_rows, ids)
    problems = []
    if n and facts["dropped"] > MANY_DUPLICATES * n:
        problems.append(Problem("warning", "many_duplicates",
                                f"dedup dropped {facts['dropped']:,} of {n:,} examples ({facts['dropped'] / n:.0%}) as "
                                f"duplicates: look at the largest clusters in the report; raise stages.dedup.threshold "
                                f"(now {params.threshold}) if they are not real duplicates"))
    return StageOutput(with_drops(out, reasons, details), facts, problems)


def _facts(params, n, relation, labels, sizes, in_cluster, near_facts) -> dict:
    cluster_sizes = np.bincount(labels, minlength=n)
    cluster_sizes = cluster_sizes[cluster_sizes >= 2]
    bins = {"2": (2, 2), "3-5": (3, 5), "6-10": (6, 10), "11-50": (11, 50), "51+": (51, n + 1)}
    return {
        "examples": n, "action": params.action, "keep": params.keep,
        "exact_duplicates": relation.count("exact"), "prompt_duplicates": relation.count("prompt"),
        "near_duplicates": relation.count("near"),
        "clusters": int(cluster_sizes.size), "examples_in_clusters": int(in_cluster.sum()),
        "cluster_sizes": {k: int(((cluster_sizes >= lo) & (cluster_sizes <= hi)).sum()) for k, (lo, hi) in bins.items()},
        "near": near_facts if params.near else None,
    }


def _merge_groups(frame: pl.DataFrame, survivor: np.ndarray, in_cluster: np.ndarray) -> tuple[pl.DataFrame, int]:
    """Merge the split groups of each cluster's members into the group that appears first."""
    groups = frame["group_id"].fill_null(frame["example_id"]).to_list()
    code_of: dict[str, int] = {}
    codes = np.array([code_of.setdefault(g, len(code_of)) for g in groups], dtype=np.int64)  # first appearance order
    names = list(code_of)
    members = np.flatnonzero(in_cluster)
    merged = connected_components(len(names), codes[members], codes[survivor[members]])
    new_groups = [names[c] for c in merged[codes].tolist()]
    moved = int(np.count_nonzero(merged != np.arange(len(merged))))
    return frame.with_columns(pl.Series("group_id", new_groups, pl.Utf8)), moved


def _top_clusters(labels, sizes, survivor, relation, similarity, direct, texts: _Texts, src_files, src_rows,
                  ids) -> list[dict]:
    n = len(labels)
    roots = np.unique(labels[sizes >= 2])
    root_sizes = np.bincount(labels, minlength=n)[roots]
    order = roots[np.lexsort((roots, -root_sizes))][:TOP_CLUSTERS]
    members: dict[int, list[int]] = {int(r): [] for r in order}
    for i in np.flatnonzero(np.isin(labels, order)).tolist():
        if survivor[i] != i and len(members[int(labels[i])]) < TOP_MEMBERS:
            members[int(labels[i])].append(i)
    shown = sorted({int(survivor[r]) for r in order.tolist()} | {i for m in members.values() for i in m})
    previews = dict(zip(shown, texts.at(np.array(shown, dtype=np.int64)))) if shown else {}

    def item(i: int) -> dict:
        return {"example_id": ids[i], "source_file": src_files[i], "source_rows": src_rows[i].to_list(),
                "preview": _preview(previews[i])}

    out = []
    for root in order.tolist():
        keeper = int(survivor[root])
        out.append({
            "cluster": ids[keeper], "size": int(sizes[root]), "representative": item(keeper),
            "members": [{**item(i), "relation": relation[i], "direct": direct[i],
                         "similarity": None if similarity[i] is None else round(similarity[i], 3)}
                        for i in members[root]],
            "more_members": int(sizes[root]) - 1 - len(members[root]),
        })
    return out
