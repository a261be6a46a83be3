"""The runner plans a run: preflight (sources, fingerprints) -> the read + convert step
(pipeline/convert/step.py) -> the configured stages, segment by segment -> write outputs.

It alone counts, times, checkpoints and writes. Stages only decide (see pipeline/engine/stage.py).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
from tqdm import tqdm

from pipeline.convert.metadata_join import join_fingerprints
from pipeline.convert.step import example_schema, read_and_convert
from pipeline.engine.accounting import account_rows, read_universe
from pipeline.engine.checkpoints import CheckpointStore, cache_lock, chain_key, code_hash
from pipeline.engine.executor import Executor, LocalExecutor
from pipeline.engine.output_cache import OutputCache
from pipeline.engine.parts import TEXT_COLUMNS, Parts, PartWriter, write_parts
from pipeline.engine.records import DROP_DETAIL, DROP_REASON, empty_rejects
from pipeline.engine.run_checks import check_run_paths
from pipeline.engine.segments import StageResult, plan_segments, run_segment
from pipeline.engine.stage import Problem, StageContext
from pipeline.ingest import resolve_sources
from pipeline.outputs import TargetRun, finish_interrupted_outputs, write_outputs
from pipeline.report.drop_review import drop_review
from pipeline.report.preference_stats import preference_stats
from pipeline.stages import stage_module
from pipeline.targets import resolve_targets
from pipeline.targets.deadlines import notices
from pipeline.targets.files import kept_mask, target_rejects


@dataclass
class RunResult:
    stats: dict
    out_dir: Path
    problems: list[Problem] = field(default_factory=list)


def _progress(**kw):
    kw.setdefault("disable", not sys.stderr.isatty())
    kw.setdefault("mininterval", 0.5)
    return tqdm(**kw)


def _warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def run_pipeline(config, config_path: str, out_dir: Path | None = None, quiet: bool = False) -> RunResult:
    out_dir, cache_dir = Path(out_dir or config.output.dir), Path(config.cache.dir)
    if config.execution.backend == "ray":  # a worker elsewhere has another working directory: absolute paths
        cache_dir = cache_dir.absolute()
    sources = resolve_sources(config.inputs)
    check_run_paths(sources, out_dir, cache_dir)
    with cache_lock(cache_dir, _warn):  # one run at a time per cache folder; leftovers of killed runs go
        finish_interrupted_outputs(out_dir)
        store = CheckpointStore(cache_dir, config.cache.checkpoints)
        executor = make_executor(config.execution)  # started once, reused by every step
        ctx = StageContext(config, out_dir, cache_dir, _progress, _warn, executor=executor)
        try:
            if hasattr(executor, "check_shared"):  # tasks on other machines read and write the parts in cache.dir
                executor.check_shared(store.root.parent)
            return _run(config, config_path, ctx, store, sources, quiet)
        finally:
            executor.close()
            store.cleanup()


def make_executor(execution) -> Executor:
    """The run's Executor, by `execution.backend`: a local process pool, or Ray tasks (imported only then)."""
    if execution.backend == "ray":
        from pipeline.engine.ray_executor import RayExecutor

        return RayExecutor.from_config(execution)
    return LocalExecutor.from_config(execution)


def _run(config, config_path: str, ctx: StageContext, store: CheckpointStore, sources, quiet: bool) -> RunResult:
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    out_dir = ctx.out_dir
    size = config.execution.chunk_size

    # --- preflight: every file resolved, read and checked before any work -------------------------
    t0 = time.perf_counter()
    fingerprints = [s.fingerprint(store.root.parent if config.cache.checkpoints else None) for s in sources]
    fingerprints += [{**f, "role": "metadata table"} for f in join_fingerprints(config)]
    key = chain_key("inputs", fingerprints,
                    config.model_dump(mode="json", include={"inputs", "convert"}),
                    code_hash())
    used_keys = {key}
    hit = store.lookup(key)
    if hit:
        folder, data = hit
        stage_stats, source_stats = data["stage_stats"], data["sources"]
        for s in stage_stats:
            s["cached"] = True
    else:
        work = store.workdir(key)
        writer = PartWriter(work, "examples", size, example_schema(config))
        rejects, universe, stage_stats, source_stats = read_and_convert(config, sources, writer, say, ctx.executor)
        written = {"examples": writer.parts().to_json(),
                   "rejects": write_parts(rejects, work, "rejects", max(rejects.height, 1)).to_json(),
                   "universe": write_parts(universe, work, "universe", max(universe.height, 1)).to_json()}
        del rejects, universe
        _release_memory()
        folder = store.commit(key, work, written, {"stage_stats": stage_stats, "sources": source_stats})
        data = {"parts": written}
    examples = Parts.from_json(folder, data["parts"]["examples"])
    input_rejects = Parts.from_json(folder, data["parts"]["rejects"])
    universe_parts = Parts.from_json(folder, data["parts"]["universe"])
    if hit:
        say(f"ingest + convert: reused checkpoint ({examples.height:,} examples)")
        stage_stats[0]["seconds"] = round(time.perf_counter() - t0, 3)
        stage_stats[1]["seconds"] = 0.0

    # --- configured stages ------------------------------------------------------------------------
    problems: list[Problem] = []
    facts: dict[str, dict] = {s["name"]: s.pop("facts") for s in stage_stats if s.get("facts")}  # convert's
    dropped_parts: list[tuple[str, Parts]] = []
    for segment in plan_segments([(p, stage_module(p.name)) for p in config.stages]):
        for params, module in segment.stages:
            extra = module.cache_key(params) if hasattr(module, "cache_key") else ""
            if getattr(module, "USES_TARGETS", False):  # its result depends on the destinations too
                extra = [extra, [t.model_dump(mode="json") for t in config.target_configs()]]
            key = chain_key(key, params.model_dump(mode="json"), code_hash(module), extra)
        used_keys.add(key)
        t = time.perf_counter()
        hit = store.lookup(key)
        if hit:
            folder, data = hit
            examples = Parts.from_json(folder, data["parts"]["kept"])
            results = [StageResult(**{**r, "dropped": Parts.from_json(folder, data["parts"][f"dropped_{i}"]),
                                      "problems": [Problem(**p) for p in r["problems"]]})
                       for i, r in enumerate(data["stages"])]
        else:
            say(f"{segment.names}: {examples.height:,} examples …")
            work = store.workdir(key)
            kept, results = run_segment(segment, examples, work, ctx)
            parts = {"kept": kept.to_json(), **{f"dropped_{i}": r.dropped.to_json() for i, r in enumerate(results)}}
            folder = store.commit(key, work, parts, {"stages": [
                {k: v for k, v in r.__dict__.items() if k != "dropped"} | {"problems": [p.__dict__ for p in r.problems]}
                for r in results]})
            examples = kept.moved(folder)
            results = [replace(r, dropped=r.dropped.moved(folder)) for r in results]
        _release_memory()
        for r in results:
            dropped_parts.append((r.name, r.dropped))
            problems.extend(r.problems)
            facts[r.name] = r.facts
            stage_stats.append({"name": r.name, "unit": "examples", "in": r.n_in, "out": r.n_out, "dropped": r.reasons,
                                "seconds": round(time.perf_counter() - t, 3) if hit else r.seconds,
                                "cpu_seconds": r.cpu_seconds, "workers": r.workers, "cached": bool(hit)})

    # --- outputs ----------------------------------------------------------------------------------
    rejects = pl.concat([input_rejects.read_all(), *(_to_rejects(name, p.read_all()) for name, p in dropped_parts)],
                        how="vertical_relaxed")
    slim = examples.read_all(without=TEXT_COLUMNS)  # the text stays on disk; lines stream from it
    universe = read_universe(universe_parts)
    rows = account_rows(universe, slim, rejects)
    runs = target_runs(resolve_targets(config), universe, examples, slim, rejects, rows)
    del universe  # (every row is accounted for: the 11M-row list goes before the files are written)
    _release_memory()
    shares, share_warnings = drop_review(config, dropped_parts, slim, rejects, rows["by_source"])
    problems.extend(share_warnings)
    problems.extend(Problem(n.level, n.code, n.message) for r in runs for n in notices(r.target)
                    if n.level != "info")
    stats = _stats(rows, source_stats, slim, rejects, stage_stats, problems, facts)
    stats["drop_shares"] = shares
    if config.is_preference():  # export recorded the pairs' facts; stats.json shows them apart, with the rest
        pairs = stats["facts"].get("export", {}).pop("preference", None) or {}
        stats["preference"] = preference_stats(pairs, stats, rejects, [r.target for r in runs])
    # the files depend on the last step's output (its key chains every step before) and on the config
    key = chain_key(key, "outputs", config.model_dump(mode="json", exclude={"output", "cache", "execution"}),
                    code_hash())
    used_keys.add(key)
    cache = OutputCache(store, key)
    if cache.hit:
        say("outputs: copying the files of an earlier run with the same checkpoints")
    _release_memory()  # (the temporaries of accounting and the drop review, before the lines are written)
    write_outputs(out_dir, config, config_path, examples, slim, rejects, stats, fingerprints, runs, cache)
    problems.extend(Problem(**p) for p in stats["problems"][len(problems):])
    max_gb = config.cache.max_gb
    store.prune(used_keys, None if max_gb is None else max_gb * 2**30)
    return RunResult(stats, out_dir, problems)


def target_runs(targets, universe: pl.DataFrame, examples: Parts, slim: pl.DataFrame,
                rejects: pl.DataFrame, rows: dict) -> list[TargetRun]:
    """Each target's examples and rejects, every source row proven in exactly one of them (per target);
    `rows`: account_rows(universe, slim, rejects), which one target's run is."""
    if len(targets) == 1:
        return [TargetRun(targets[0], slim, rejects, empty_rejects(), rows)]
    runs = []
    for t in targets:
        mask = kept_mask(slim, t.folder)
        kept = slim.filter(mask)
        own = target_rejects(slim.filter(~mask), examples, t.folder, dict(rejects.schema))
        all_rejects = pl.concat([rejects, own], how="vertical_relaxed")
        runs.append(TargetRun(t, kept, all_rejects, own, account_rows(universe, kept, all_rejects)))
    return runs


def _release_memory() -> None:
    """Give freed memory back to the system between steps. The raw tables are backed by Arrow buffers
    (read zero-copy from the CSV reader), which Arrow's allocator keeps cached after they are freed:
    at 1M conversations ~1.8 GB of the main process's resident memory until this runs."""
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    _trim_c_heap()


def _trim_c_heap() -> None:
    """glibc's malloc keeps the free space of its heap (numpy's and Python's freed blocks) until asked:
    give it back (no-op where there is no glibc)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _to_rejects(stage: str, dropped: pl.DataFrame) -> pl.DataFrame:
    if dropped.height == 0:
        return empty_rejects()
    return dropped.cast({"source_rows": pl.List(pl.Int64)}).select(
        pl.lit(stage).alias("stage"), pl.col(DROP_REASON).alias("reason"), pl.col(DROP_DETAIL).alias("detail"),
        "source_file", "source_rows", "example_id", "example",
    )


def _stats(rows, source_stats, examples, rejects, stage_stats, problems, facts) -> dict:
    split = examples["split"] if "split" in examples.columns else pl.Series([], dtype=pl.Utf8)
    rejected_examples = rejects.filter(pl.col("example").is_not_null()).height
    by_reason: dict[str, dict[str, int]] = {}
    for stage, reason, n in rejects.group_by("stage", "reason").len().sort("stage", "reason").iter_rows():
        by_reason.setdefault(stage, {})[reason] = n
    return {
        "rows": rows["total"],
        "rows_by_source": rows["by_source"],
        "sources": source_stats,
        "examples": {"built": stage_stats[1]["out"], "train": int((split == "train").sum()),
                     "validation": int((split == "validation").sum()), "rejected": rejected_examples},
        "rejects_by_reason": by_reason,
        "stages": stage_stats,
        "problems": [p.__dict__ for p in problems],
        "facts": json.loads(json.dumps(facts, default=str)),
    }
