"""Config models for the messy-layout options: transcripts, reply threads, speaker roles, tool-call
dialects, metadata tables joined onto examples, long-dialogue windows and per-turn weights.

Used by schemas/inputs.py (per input) and schemas/config.py (`convert:`). Every regex and `where:`
expression is checked when the config loads, with the engine that runs it (Python's `re` for markers and
weights, polars' for `where:` `matches`), so a typo stops the run before any file is read.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel
from schemas.where_syntax import WhereSyntaxError, parse_where

RoleName = Literal["system", "user", "assistant", "tool", "function"]


def check_where(text: str | None) -> str | None:
    """Parse a `where:` expression (syntax only; columns are checked against the data later)."""
    if text is None:
        return None
    try:
        parse_where(text)
    except WhereSyntaxError as e:
        raise ValueError(str(e)) from None
    return text


def _compile(pattern: str, what: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {e}") from None


class SpeakerRoles(StrictModel):
    """How speakers become OpenAI roles (layouts messages, transcript, threads)."""

    by: Literal["label", "position", "column"] = Field(
        "label",
        description="label: through `roles`; position: the 1st distinct speaker of each conversation gets "
                    "order[0], the 2nd order[1], ...; column: per conversation, `column` names the speaker "
                    "label that plays the assistant (every other speaker is the user)",
    )
    order: list[RoleName] = Field(default_factory=lambda: ["user", "assistant"], min_length=1,
                                  description="roles handed out by position")
    column: str | None = Field(None, description="by: column — a raw or joined column (first non-empty value "
                                                 "of the conversation) holding the assistant's speaker label")

    @model_validator(mode="after")
    def _column_needed(self) -> SpeakerRoles:
        if self.by == "column" and not self.column:
            raise ValueError("speaker_roles.by is 'column' but speaker_roles.column is not set")
        if self.by != "column" and self.column:
            raise ValueError("speaker_roles.column is only used with by: column")
        return self


class TranscriptMarkers(StrictModel):
    """Where turns start inside a transcript cell. Set exactly one of speakers, pattern, separator."""

    speakers: list[str] | None = Field(None, description="literal speaker labels, e.g. [Human, Assistant]; a "
                                                         "turn starts where a label + `label_suffix` begins a line")
    label_suffix: str = Field(":", description="text right after a literal label (e.g. ':')")
    anywhere: bool = Field(False, description="literal labels may also start mid-line after whitespace "
                                              "(e.g. 'Customer: hi Agent: hello')")
    pattern: str | None = Field(None, description="regex; each match starts a turn and its named group "
                                                  "`speaker` is the label, e.g. '(?m)^(?P<speaker>[A-Z]\\w+): '")
    separator: str | None = Field(None, description="turn separator, e.g. '__eou__'; speakers alternate "
                                                    "through speaker_roles.order (user, assistant, ...)")

    @model_validator(mode="after")
    def _one_mode(self) -> TranscriptMarkers:
        modes = [k for k in ("speakers", "pattern", "separator") if getattr(self, k)]
        if len(modes) != 1:
            raise ValueError("set exactly one of markers.speakers, markers.pattern, markers.separator "
                             f"(got {', '.join(modes) or 'none'})")
        if self.pattern:
            rx = _compile(self.pattern, "markers.pattern")
            if "speaker" not in rx.groupindex:
                raise ValueError("markers.pattern needs a named group (?P<speaker>...) for the speaker label")
            if rx.match(""):
                raise ValueError("markers.pattern matches the empty string; it must match a speaker marker")
        if self.speakers is not None and not all(s.strip() for s in self.speakers):
            raise ValueError("markers.speakers: labels must not be empty")
        return self


class TreeOptions(StrictModel):
    paths: Literal["all", "longest"] = Field(
        "all", description="all: every root-to-leaf path is one example; longest: one path per tree")
    orphans: Literal["own_thread", "reject"] = Field(
        "own_thread", description="a message whose parent is not in the file starts its own thread, or is "
                                  "rejected together with its replies")
    id_separator: str = Field(",", min_length=1, description="separates several ids in columns.children")


class ToolCallOptions(StrictModel):
    """ShareGPT-style tool use (`function_call` / `observation` turns + a `tools` JSON string) -> OpenAI."""

    format: Literal["sharegpt"] = "sharegpt"
    call_label: str = Field("function_call", description="speaker label of a turn holding a call as JSON "
                                                        "{name, arguments} (or a list of them)")
    result_label: str = Field("observation", description="speaker label of a turn holding a tool's result")


class MetadataJoin(StrictModel):
    """A second table keyed by conversation (or any raw column) joined onto the input's rows.

    `csv` refers to schemas.inputs.CsvOptions, bound by schemas/inputs.py (which imports this module).
    """

    path: str = Field(description="the metadata file (CSV, Parquet, JSON, JSONL)")
    format: Literal["auto", "csv", "parquet", "jsonl", "json"] = "auto"
    csv: CsvOptions | None = Field(None, description="how to read it when CSV (default: as the input's csv)")  # noqa: F821
    key: str = Field(description="column of the input table holding the key (e.g. the conversation id)")
    table_key: str | None = Field(None, description="column of the metadata table holding the key "
                                                    "(default: the same name as `key`)")
    columns: list[str] | dict[str, str] = Field(
        description="metadata columns to carry (as meta.<name>); a mapping renames {table column: name}")
    where: str | None = Field(None, description="keep only metadata rows matching this expression, e.g. "
                                                "\"B4 == 1\" (the key must then be unique)")
    unmatched: Literal["keep", "reject"] = Field(
        "keep", description="rows whose key is not in the table: keep (meta is empty) or reject")

    @field_validator("where")
    @classmethod
    def _where(cls, v):
        return check_where(v)

    @field_validator("columns")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("list at least one metadata column to carry")
        return v

    def targets(self) -> dict[str, str]:
        """table column -> name on the examples."""
        return dict(self.columns) if isinstance(self.columns, dict) else {c: c for c in self.columns}


class WindowOptions(StrictModel):
    """Split long conversations into several examples, each ending on an assistant turn."""

    max_turns: int | None = Field(None, ge=2, description="messages per window, not counting the system prompt")
    max_tokens: int | None = Field(None, gt=0, description="estimated tokens per window, system prompt included")
    overlap: int = Field(0, ge=0, description="messages of the previous window repeated at the start of the next")
    tokenizer: Literal["chars/4", "o200k_base", "cl100k_base"] = Field(
        "chars/4", description="chars/4 (a quick estimate) or a tiktoken encoding (exact message tokens)")
    overlap_weight_zero: bool = Field(True, description="assistant turns repeated from the previous window get "
                                                        "weight 0, so no turn is trained twice")

    @model_validator(mode="after")
    def _limit(self) -> WindowOptions:
        if self.max_turns is None and self.max_tokens is None:
            raise ValueError("windows needs max_turns or max_tokens (or both)")
        if self.max_turns is not None and self.overlap >= self.max_turns:
            raise ValueError(f"windows.overlap ({self.overlap}) must be smaller than max_turns ({self.max_turns})")
        return self


class WeightOptions(StrictModel):
    """Per-turn training weights (OpenAI `weight`, assistant messages only)."""

    mode: Literal["last_only", "matching"] = Field(
        description="last_only: weight 0 on every assistant turn but the last; matching: weight 0 on assistant "
                    "turns whose text matches `pattern`")
    pattern: str | None = Field(None, description="regex searched in assistant text (mode: matching)")

    @model_validator(mode="after")
    def _pattern(self) -> WeightOptions:
        if self.mode == "matching":
            if not self.pattern:
                raise ValueError("weights.mode 'matching' needs weights.pattern (a regex)")
            _compile(self.pattern, "weights.pattern")
        elif self.pattern:
            raise ValueError("weights.pattern is only used with mode: matching")
        return self

