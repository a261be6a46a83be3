"""Deadline notices of a target: the last day a new fine-tuning job can be created and the model's shutdown,
stated where they bite (console, stats.json, report). `CHATPREP_TODAY` (YYYY-MM-DD) sets today for tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from pipeline.targets.base import Target

SOON_DAYS = 120  # closer than this: a warning; further: an info line


@dataclass(frozen=True)
class Notice:
    level: str    # "error" (past: the files cannot be used there) | "warning" | "info"
    code: str     # last_new_job | model_shutdown
    message: str
    source: str

    def json(self) -> dict:
        return self.__dict__.copy()


def today() -> date:
    override = os.environ.get("CHATPREP_TODAY")
    return date.fromisoformat(override) if override else date.today()


def _days(when: str, now: date) -> int:
    return (date.fromisoformat(when) - now).days


def notices(target: Target, now: date | None = None) -> list[Notice]:
    now = now or today()
    out = []
    job, stop = target.facts.last_new_job, target.facts.shutdown
    where = f"{target.provider} {target.model}"
    if job is not None:
        d = _days(job.value, now)
        if d < 0:
            out.append(Notice("error", "last_new_job", f"{where}: no new fine-tuning jobs can be created since "
                              f"{job.value}; train somewhere else (`chatprep targets`)", job.source))
        else:
            out.append(Notice("warning" if d <= SOON_DAYS else "info", "last_new_job",
                              f"{where}: the last day to create a fine-tuning job is {job.value} ({d} days from "
                              f"today); after that these files cannot be trained there", job.source))
    if stop is not None:
        d = _days(stop.value, now)
        if d < 0:
            out.append(Notice("error", "model_shutdown", f"{where}: the model was shut down on {stop.value}",
                              stop.source))
        else:
            out.append(Notice("warning" if d <= SOON_DAYS else "info", "model_shutdown",
                              f"{where}: the model and its fine-tunes shut down on {stop.value} ({d} days from "
                              "today)", stop.source))
    return out


def shut_down(target_facts, model: str, now: date | None = None) -> str | None:
    """Why a model cannot be trained any more (its shutdown is past), or None."""
    stop = target_facts.shutdown
    if stop is not None and _days(stop.value, now or today()) < 0:
        return (f"{model} was shut down on {stop.value} ({stop.source}): it cannot be fine-tuned any more; pick "
                "another model or destination (`chatprep targets` lists them)")
    return None
