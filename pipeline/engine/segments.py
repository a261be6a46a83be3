"""Running stages: a segment of per-part stages part by part on the Executor, or one whole-frame stage.

A segment is a run of consecutive `RUNS = "per_part"` stages (see pipeline/engine/stage.py). Each part
of the input (pipeline/engine/parts.py) passes through the segment's stages in order; parts are
independent, so they are tasks for the Executor (pipeline/engine/executor.py: a process pool here, Ray
tasks on a cluster). A task reads its input part and writes its output parts itself: only counts, facts
and problems travel back, so the main process never holds the frame. Facts are merged by type in input
order, so the output does not depend on the backend or the number of workers. A segment of one
`whole` / `whole_without_text` stage reads the whole frame (without its text for the latter).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field, replace

import polars as pl

from pipeline.engine.executor import SerialExecutor
from pipeline.engine.facts import merge_parts, render
from pipeline.engine.parts import TEXT_COLUMNS, Parts, gather_parts, part_name, write_part
from pipeline.engine.records import DROP_DETAIL, DROP_REASON
from pipeline.engine.stage import RUNS_PER_PART, RUNS_WHOLE_WITHOUT_TEXT, Problem, StageContext, runs
from pipeline.engine.storage import Location, join, read_parquet
from pipeline.errors import InternalInvariantError


@dataclass
class StageResult:
    name: str
    n_in: int
    n_out: int
    dropped: Parts         # the stage's dropped rows (with drop_reason, drop_detail)
    reasons: dict          # reason -> rows dropped
    facts: dict
    problems: list[Problem]
    seconds: float  # wall-clock share: work time / workers used
    cpu_seconds: float = 0.0
    workers: int = 1


@dataclass
class Segment:
    stages: list = field(default_factory=list)  # [(params, module)]
    chunked: bool = False

    @property
    def names(self) -> str:
        return " → ".join(p.name for p, _ in self.stages)


def plan_segments(stages: list[tuple]) -> list[Segment]:
    """Group consecutive per-part stages of `stages` ([(params, stage module)], in run order); every other
    stage is a segment of its own."""
    segments: list[Segment] = []
    for params, module in stages:
        per_part = runs(module) == RUNS_PER_PART
        last = segments[-1] if segments else None
        if per_part and last is not None and last.chunked:
            last.stages.append((params, module))
        else:
            segments.append(Segment([(params, module)], per_part))
    return segments


def stage_facts(module, params, parts: list[dict]) -> dict:
    """A chunked stage's facts, from the typed facts of its parts in input order: merged and rendered
    (facts.merge_parts), then completed by the stage's optional `finish_facts`."""
    return _finished(module, params, merge_parts(parts))


def finish_run(module, params, ctx: StageContext) -> float:
    """The stage's optional `finish_run` (once per run, in this process, after all its parts); its seconds."""
    finish = getattr(module, "finish_run", None)
    if finish is None:
        return 0.0
    t = time.perf_counter()
    finish(params, ctx)
    return time.perf_counter() - t


def _finished(module, params, facts: dict) -> dict:
    finish = getattr(module, "finish_facts", None)
    return finish(facts, params) if finish is not None else facts


def split_decisions(name: str, before: pl.DataFrame, after: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check the stage kept the contract (same rows, same order, decision columns) and split on it."""
    _check_contract(name, before, after)
    return _split(after)


def _split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept rows without the decision columns, dropped rows with them)."""
    drop = pl.col(DROP_REASON).is_not_null()
    return frame.filter(~drop).drop(DROP_REASON, DROP_DETAIL), frame.filter(drop)


def _reasons(dropped: pl.DataFrame) -> dict[str, int]:
    return dict(sorted(dropped.group_by(DROP_REASON).len().iter_rows())) if dropped.height else {}


def run_segment(segment: Segment, examples: Parts, work: Location, ctx: StageContext) -> tuple[Parts, list[StageResult]]:
    """Run a segment over `examples`; its kept rows and each stage's dropped rows are written as parts
    into `work` (kept-NNNNN.parquet, dropped_<k>-NNNNN.parquet)."""
    if segment.chunked:
        return _run_chunked(segment, examples, work, ctx)
    (params, module), = segment.stages
    with_text = runs(module) != RUNS_WHOLE_WITHOUT_TEXT
    t = time.perf_counter()
    if with_text:
        frame, added = examples.read_all(), []
    else:
        frame = examples.read_all(without=TEXT_COLUMNS)
        added = []
        if hasattr(module, "features"):
            feats = _features(module, params, examples, ctx)
            added = feats.columns
            frame = pl.concat([frame, feats], how="horizontal")
        ctx = replace(ctx, texts=examples.texts)
    output = module.run(frame, params, ctx)
    finish_run(module, params, ctx)
    out = output.frame.drop(added, strict=False)
    _check_contract(params.name, frame, out)
    seconds = round(time.perf_counter() - t, 3)
    n_in, facts, problems = frame.height, _finished(module, params, render(output.facts)), output.problems
    del frame, output
    kept_heights, dropped_heights, reasons = [], [], []
    slices = [out.slice(offset, height) for offset, height in zip(_offsets(examples.heights), examples.heights)]
    del out
    # output part i = input part i's rows; a stage without the text rewrites each part with its text, on the
    # Executor (each task reads its part, adds the stage's columns and writes kept + dropped: at 1M
    # conversations ~1 GB of Parquet read and written again, outside the stage's own time)
    workers = 1 if with_text else ctx.executor.workers_for(examples.height, len(slices))
    tasks = ((None if with_text else path, part, work, i) for i, (path, part) in enumerate(zip(examples.paths, slices)))
    for kept_height, dropped_height, part_reasons in ctx.executor.map(_write_back, tasks, workers):
        kept_heights.append(kept_height)
        dropped_heights.append(dropped_height)
        reasons.append(part_reasons)
    result = StageResult(params.name, n_in, sum(kept_heights), gather_parts(work, "dropped_0", dropped_heights),
                         _merge_reasons(reasons), facts, problems, seconds, seconds)
    return gather_parts(work, "kept", kept_heights), [result]


def _offsets(heights) -> list[int]:
    out, offset = [], 0
    for h in heights:
        out.append(offset)
        offset += h
    return out


def _write_back(source: Location | None, part: pl.DataFrame, work: Location, i: int) -> tuple[int, int, dict]:
    """A whole stage's rows of part i (with the text from `source` when the stage ran without it) as the
    kept and dropped parts i. Runs in a worker or in-process."""
    if source is not None:
        part = read_parquet(source).with_columns(part.get_columns())
    kept, dropped = _split(part)
    write_part(kept, join(work, part_name("kept", i)))
    write_part(dropped, join(work, part_name("dropped_0", i)))
    return kept.height, dropped.height, _reasons(dropped)


def _feature_task(module_name: str, params, path: Location) -> pl.DataFrame:
    return importlib.import_module(module_name).features(read_parquet(path, columns=["example"]), params)


def _features(module, params, examples: Parts, ctx: StageContext) -> pl.DataFrame:
    """The stage's `features` of every part, in order (on the Executor: each task reads its own part)."""
    workers = ctx.executor.workers_for(examples.height, len(examples.names))
    bar = ctx.progress(total=examples.height, desc=f"{params.name}: features", unit="ex")
    out = []
    tasks = ((module.__name__, params, path) for path in examples.paths)  # a task names its module: picklable
    for frame in ctx.executor.map(_feature_task, tasks, workers):
        out.append(frame)
        bar.update(frame.height)
    bar.close()
    # not rechunked: one chunk per part, so no second copy of every feature is made (at 1M conversations dedup's
    # features are ~0.7 GB); a stage that wants one array per column reads the chunks (polars Series.get_chunks)
    return pl.concat(out, how="vertical", rechunk=False)


def _check_contract(name: str, before: pl.DataFrame, after: pl.DataFrame) -> None:
    for col in (DROP_REASON, DROP_DETAIL):
        if col not in after.columns:
            raise InternalInvariantError(f"stage {name!r} returned no {col!r} column")
    if after.height != before.height or not after["example_id"].equals(before["example_id"]):
        raise InternalInvariantError(f"stage {name!r} returned {after.height} rows for {before.height} (or reordered them)")


# ----------------------------------------------------------------------------- chunked execution


def _run_chunk(specs: list[tuple[str, object]], source: Location, work: Location, index: int,
               ctx: StageContext) -> list[tuple]:
    """One part through the segment's stages ([(stage module name, params)]); writes kept + dropped parts.
    Runs in a worker or in-process; `source` and `work` may be URIs (pipeline/engine/storage.py)."""
    chunk = read_parquet(source)
    out = []
    for k, (module_name, params) in enumerate(specs):
        module = importlib.import_module(module_name)
        t = time.perf_counter()
        output = module.run(chunk, params, ctx)
        kept, dropped = split_decisions(params.name, chunk, output.frame)
        seconds = time.perf_counter() - t
        write_part(dropped, join(work, part_name(f"dropped_{k}", index)))
        out.append((chunk.height, kept.height, dropped.height, _reasons(dropped), output.facts, output.problems,
                    seconds))
        chunk = kept
    write_part(chunk, join(work, part_name("kept", index)))
    return out


def _quiet(**kw):
    from tqdm import tqdm

    return tqdm(disable=True, **kw)


def _warn_in_worker(message: str) -> None:
    print(f"WARNING: {message}", flush=True)


def _merge_reasons(dicts) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _run_chunked(segment: Segment, examples: Parts, work: Location, ctx: StageContext):
    specs = [(m.__name__, p) for p, m in segment.stages]
    workers = ctx.executor.workers_for(examples.height, len(examples.names))
    # a task never fans out again (its context's executor is serial) and never draws the main bar
    task_ctx = replace(ctx, executor=SerialExecutor()) if workers == 1 else \
        replace(ctx, progress=_quiet, warn=_warn_in_worker, executor=SerialExecutor())
    bar = ctx.progress(total=examples.height, desc=segment.names, unit="ex")
    results = []
    tasks = ((specs, path, work, i, task_ctx) for i, path in enumerate(examples.paths))
    for result in ctx.executor.map(_run_chunk, tasks, workers):
        results.append(result)
        bar.update(result[0][0])
    bar.close()
    kept = gather_parts(work, "kept", [r[-1][1] for r in results])
    stage_results = []
    for k, (params, module) in enumerate(segment.stages):
        parts = [r[k] for r in results]
        facts = stage_facts(module, params, [p[4] for p in parts])
        if hasattr(module, "problems_from_facts"):
            problems = module.problems_from_facts(facts, params)
        else:
            problems = list({p.code: p for part in parts for p in part[5]}.values())
        cpu = sum(p[6] for p in parts)
        finished = finish_run(module, params, ctx)  # in this process: part of the stage's wall time as it is
        dropped = gather_parts(work, f"dropped_{k}", [p[2] for p in parts])
        stage_results.append(StageResult(params.name, sum(p[0] for p in parts), sum(p[1] for p in parts), dropped,
                                         _merge_reasons(p[3] for p in parts), facts, problems,
                                         round(cpu / workers + finished, 3), round(cpu + finished, 3), workers))
    return kept, stage_results
