"""Running stages: whole-frame, or chunk by chunk through a segment of batch stages in a process pool.

A segment is a run of consecutive batch stages that define `merge_facts` (see pipeline/stage_api.py).
Each fixed-size chunk of examples passes through the segment's stages in order; chunks are independent,
so they run in a spawn-context process pool when the input is large (the same code path a Ray Data
`map_batches` would take). Results are gathered in input order and facts merged by each stage, so the
output does not depend on the number of workers or on the chunk size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import polars as pl

from pipeline.errors import InternalInvariantError
from pipeline.process_pool import ordered_map, worker_count
from pipeline.records import DROP_DETAIL, DROP_REASON
from pipeline.stage_api import Problem, StageContext
from pipeline.stages import stage_module


@dataclass
class StageResult:
    name: str
    n_in: int
    n_out: int
    dropped: pl.DataFrame
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


def plan_segments(stage_params: list) -> list[Segment]:
    """Group consecutive chunkable batch stages; every other stage is a segment of its own."""
    segments: list[Segment] = []
    for params in stage_params:
        module = stage_module(params.name)
        chunkable = getattr(module, "SCOPE", "global") == "batch" and hasattr(module, "merge_facts")
        in_process = getattr(module, "IN_PROCESS", False)
        last = segments[-1] if segments else None
        if chunkable and last is not None and last.chunked and not in_process and not _has_in_process(last):
            last.stages.append((params, module))
        else:
            segments.append(Segment([(params, module)], chunkable))
    return segments


def _has_in_process(segment: Segment) -> bool:
    return any(getattr(m, "IN_PROCESS", False) for _, m in segment.stages)


def split_decisions(name: str, before: pl.DataFrame, after: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check the stage kept the contract (same rows, same order, decision columns) and split on it."""
    for col in (DROP_REASON, DROP_DETAIL):
        if col not in after.columns:
            raise InternalInvariantError(f"stage {name!r} returned no {col!r} column")
    if after.height != before.height or not after["example_id"].equals(before["example_id"]):
        raise InternalInvariantError(f"stage {name!r} returned {after.height} rows for {before.height} (or reordered them)")
    drop = pl.col(DROP_REASON).is_not_null()
    return after.filter(~drop).drop(DROP_REASON, DROP_DETAIL), after.filter(drop)


def run_segment(segment: Segment, frame: pl.DataFrame, ctx: StageContext, execution) -> tuple[pl.DataFrame, list[StageResult]]:
    if not segment.chunked:
        (params, module), = segment.stages
        t = time.perf_counter()
        output = module.run(frame, params, ctx)
        kept, dropped = split_decisions(params.name, frame, output.frame)
        seconds = time.perf_counter() - t
        return kept, [StageResult(params.name, frame.height, kept.height, dropped, output.facts, output.problems,
                                  round(seconds, 3), round(seconds, 3))]
    return _run_chunked(segment, frame, ctx, execution)


# ----------------------------------------------------------------------------- chunked execution


def _run_chunk(specs: list, chunk: pl.DataFrame, ctx: StageContext) -> tuple[pl.DataFrame, list[tuple]]:
    """One chunk through the segment's stages. Runs in a worker process or in-process."""
    out = []
    for params in specs:
        module = stage_module(params.name)
        t = time.perf_counter()
        output = module.run(chunk, params, ctx)
        kept, dropped = split_decisions(params.name, chunk, output.frame)
        out.append((chunk.height, kept.height, dropped, output.facts, output.problems, time.perf_counter() - t))
        chunk = kept
    return chunk, out


def _quiet(**kw):
    from tqdm import tqdm

    return tqdm(disable=True, **kw)


def _warn_in_worker(message: str) -> None:
    print(f"WARNING: {message}", flush=True)


def _run_chunked(segment: Segment, frame: pl.DataFrame, ctx: StageContext, execution):
    specs = [p for p, _ in segment.stages]
    size = execution.chunk_size
    chunks = [frame.slice(i, size) for i in range(0, frame.height, size)] or [frame]
    workers = 1 if _has_in_process(segment) else worker_count(
        execution.workers, frame.height, len(chunks), execution.parallel_min_examples)
    task_ctx = ctx if workers == 1 else replace(ctx, progress=_quiet, warn=_warn_in_worker)
    bar = ctx.progress(total=frame.height, desc=segment.names, unit="ex")
    results = []
    for result in ordered_map(_run_chunk, ((specs, chunk, task_ctx) for chunk in chunks), workers):
        results.append(result)
        bar.update(result[1][0][0])
    bar.close()
    kept = pl.concat([r[0] for r in results], how="diagonal_relaxed") if len(results) > 1 else results[0][0]
    stage_results = []
    for k, (params, module) in enumerate(segment.stages):
        parts = [r[1][k] for r in results]
        facts = module.merge_facts([p[3] for p in parts])
        if hasattr(module, "problems_from_facts"):
            problems = module.problems_from_facts(facts, params)
        else:
            problems = list({p.code: p for part in parts for p in part[4]}.values())
        cpu = sum(p[5] for p in parts)
        dropped = pl.concat([p[2] for p in parts], how="diagonal_relaxed")
        stage_results.append(StageResult(params.name, sum(p[0] for p in parts), sum(p[1] for p in parts), dropped,
                                         facts, problems, round(cpu / workers, 3), round(cpu, 3), workers))
    return kept, stage_results
