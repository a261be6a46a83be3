"""`messages` layout: one row per message; conversation id, optional order column, role, content."""

from __future__ import annotations

import io

import polars as pl

from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import DROP, RoleMap, Turn, clean_plain_turns
from pipeline.engine.executor import SerialExecutor
from pipeline.engine.records import dumps_text_example, rejects_frame
from pipeline.ingest.readers import ROW
from schemas.raw_tables import int_of_text

CONVERSATIONS_PER_TASK = 25_000


def convert_messages(frame: pl.DataFrame, inp, index: int, sink: ConversionSink, executor=None) -> None:
    frame = with_conversation_ids(frame, inp, sink)
    # conversations in order of their first row, CONVERSATIONS_PER_TASK to a task; each task's rows are
    # filtered out only when the task is sent (a few in flight), never all copied at once
    task = (frame.group_by("__cid").agg(pl.col(ROW).min().alias("__first")).sort("__first")
            .with_row_index("__task").select("__cid", (pl.col("__task") // CONVERSATIONS_PER_TASK).alias("__task")))
    task_of_row = frame.select("__cid").join(task, on="__cid", how="left", maintain_order="left")["__task"]
    rows = frame.with_columns(task_of_row)
    del frame, task_of_row
    n_conversations, n_tasks = task.height, (task["__task"].max() or 0) + 1
    executor = executor or SerialExecutor()
    workers = executor.workers_for(n_conversations, n_tasks)
    parts = (rows.filter(pl.col("__task") == t).drop("__task") for t in range(n_tasks)) if n_tasks > 1 else \
        iter([rows.drop("__task")])
    convert_message_tasks(parts, inp, index, sink, executor, workers)


def with_conversation_ids(frame: pl.DataFrame, inp, sink: ConversionSink) -> pl.DataFrame:
    """The rows with a conversation id, as column __cid (stripped); a row without one is rejected."""
    c = inp.columns
    cid = pl.col(c.conversation_id)
    if frame.select(cid.str.contains(r"^\s|\s$").any()).item():  # (\s is what strip_chars strips: White_Space)
        cid = cid.str.strip_chars()  # else __cid is the column itself, not a copy of every id
    missing = frame.filter(cid.is_null() | (cid == ""))
    for row in missing[ROW].to_list():
        sink.reject([row], "missing_conversation_id", f"row {row}, column {c.conversation_id!r}: empty conversation id")
    if missing.height:  # (filtering copies every column: only when there is something to filter)
        frame = frame.filter(cid.is_not_null() & (cid != ""))
    return frame.with_columns(cid.alias("__cid"))


def convert_message_tasks(parts, inp, index: int, sink: ConversionSink, executor, workers: int) -> None:
    """Convert each frame of `parts` (the rows of whole conversations, with __cid) as a task on `executor`;
    the examples, rejects and counts go to `sink` in task order. `parts` is consumed as tasks are sent, so
    it may read its rows as it goes (message_stream.py)."""
    roles = RoleMap(inp.roles, index)
    task, pack, unpack = (_convert_groups, _same, _same) if workers == 1 else (_convert_ipc, _to_ipc, _from_ipc)
    tasks = ((pack(part), inp, index, _roles_of(part, inp, roles), sink.path, sink.cfg, sink.meta_columns)
             for part in parts)
    for examples, rejects, counts in executor.map(task, tasks, workers):
        sink.take(unpack(examples))
        sink.reject_frames.append(rejects)
        sink.counts.update(counts)


def _roles_of(part: pl.DataFrame, inp, roles: RoleMap) -> dict:
    """label -> role (None when unknown) for the labels of this task's rows, looked up once per label."""
    return {label: roles.get(label) for label in part[inp.columns.role].unique().to_list()}


def _same(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


def _to_ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


def _from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


def _convert_ipc(rows: bytes, *args):
    """_convert_groups in a pool worker: the rows come and the examples go back as Arrow IPC bytes, which
    cost about a third of pickling the frames (the main process sends and takes every one)."""
    examples, rejects, counts = _convert_groups(_from_ipc(rows), *args)
    return _to_ipc(examples), rejects, counts


def _group(frame: pl.DataFrame, inp) -> pl.DataFrame:
    """One row per conversation (rows in message order), conversations in order of their first row."""
    c = inp.columns
    order = [int_of_text(pl.col(c.order))] if c.order else []
    meta_cols = [pl.col(m).drop_nulls().first().cast(pl.Utf8).alias(m) for m in inp.metadata]
    return (
        frame.sort(["__cid", *order, ROW] if order else ["__cid", ROW])
        .group_by("__cid", maintain_order=True)
        .agg(pl.col(ROW).min().alias("__first"), pl.col(ROW), pl.col(c.role), pl.col(c.content), *meta_cols)
        .sort("__first")
    )


def _convert_groups(rows: pl.DataFrame, inp, index: int, role_of: dict, path: str, cfg, meta_columns: list[str]):
    """The rows of whole conversations -> examples and rejects frames, counts.
    Runs in a worker or in-process; frames (not Python objects) travel back, cheaply."""
    c = inp.columns
    roles = RoleMap(inp.roles, index)
    sink = ConversionSink(path, cfg, meta_columns, dumps=dumps_text_example)  # roles and cells: text only
    if c.order:
        turns = rows.select("__cid", int_of_text(pl.col(c.order)).alias("__turn")).drop_nulls("__turn")
        duplicates = turns.height - turns.n_unique()
        if duplicates:  # kept, in file order among themselves; counted so the report says so
            sink.counts["duplicate_turn_number"] += duplicates
    for rec in _group(rows, inp).iter_rows(named=True):
        rows, labels, texts = rec[ROW], rec[c.role], rec[c.content]
        where = f"conversation {rec['__cid']!r}"
        found = [role_of.get(label) for label in labels]
        if None in found:
            i = found.index(None)
            sink.counts["unknown_role"] += 1
            sink.reject(list(rows), "unknown_role", roles.unknown(labels[i], f"{where}, row {rows[i]}, column {c.role!r}"))
            continue
        meta = {m: rec[m] for m in inp.metadata}
        if None in texts:
            texts = [text if text is not None else "" for text in texts]
        if DROP in found:  # (filter_message_rows took such rows out already)
            turns = [Turn({"role": role, "content": text}, [row]) for row, role, text in zip(rows, found, texts)]
            sink.add(turns, rows, rec["__cid"], where, meta=meta)
        else:  # plain messages: cleaned without a Turn per message (the same result)
            sink.add(None, rows, rec["__cid"], where, meta=meta,
                     cleaned=clean_plain_turns(rows, found, texts, sink.cfg, sink.counts))
    return sink.examples_frame(), rejects_frame(sink.rejects), sink.counts
