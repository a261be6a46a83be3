"""Config of the raw inputs: where the files are, how to read them, and which layout maps them to chats."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel
from schemas.conversion_options import (
    MetadataJoin,
    SpeakerRoles,
    ToolCallOptions,
    TranscriptMarkers,
    TreeOptions,
    check_where,
)

Role = Literal["system", "user", "assistant", "tool", "function"]
LabelRole = Literal["system", "user", "assistant", "tool", "function", "drop"]  # drop: not a message

DEFAULT_ROLES: dict[str, str] = {r: r for r in ("system", "user", "assistant", "tool", "function")}


class CsvOptions(StrictModel):
    separator: str | None = Field(None, description="field separator, one character "
                                                    "(default: a tab for .tsv files, ',' otherwise)")
    quote: str = Field('"', description="quote character, one character")
    encoding: str = Field("utf-8", description="text encoding of the file, e.g. utf-8, cp1252, latin-1")
    encoding_errors: Literal["strict", "replace"] = Field(
        "strict", description="strict: stop with the line of the first undecodable byte; replace: use U+FFFD"
    )
    has_header: bool = True
    skip_rows: int = Field(0, ge=0, description="lines at the top of the file to skip before the header "
                                                "(e.g. a merge-conflict marker on line 1)")

    @field_validator("separator", "quote")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.encode().decode("unicode_escape") if v.startswith("\\") else v
        if len(v) != 1:
            raise ValueError(f"must be exactly one character, got {v!r}")
        return v


class JsonOptions(StrictModel):
    path: str | None = Field(None, description="dot-separated keys leading to the records inside a JSON "
                                               "document, e.g. data.dialogs")
    key_column: str = Field("key", min_length=1, description="records in an object keyed by id "
                                                            "({\"2303\": {...}}): the column receiving each key")

    @field_validator("path")
    @classmethod
    def _keys(cls, v: str | None) -> str | None:
        if v is not None and not all(v.split(".")):
            raise ValueError(f"expected keys separated by dots, e.g. data.dialogs; got {v!r}")
        return v


MetadataJoin.model_rebuild(_types_namespace={"CsvOptions": CsvOptions})


class InputBase(StrictModel):
    path: str = Field(description="a file or a glob (relative to the working directory)")
    format: Literal["auto", "csv", "parquet", "jsonl", "json"] = "auto"
    name: str | None = Field(None, description="label for this source in stats and report (default: the path)")
    csv: CsvOptions = CsvOptions()
    json_options: JsonOptions = Field(JsonOptions(), alias="json",
                                      description="where the records are in a JSON document")
    zip_members: str | None = Field(None, description="glob of the members of a .zip to read, e.g. '*.jsonl' "
                                                      "(default: the archive's only file)")
    @field_validator("path")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the value is empty; give the file, folder glob or .zip to read, e.g. data/chats.csv")
        return v

    roles: dict[str, LabelRole] = Field(
        default_factory=lambda: dict(DEFAULT_ROLES),
        description="raw speaker label -> system/user/assistant/tool/function, or drop (the label's lines are "
                    "not messages: left out and counted per label); matched case-insensitively",
    )
    metadata: list[str] = Field(
        default_factory=list, description="raw columns carried onto each example as meta.<column>"
    )
    max_cell_chars: int = Field(2_000_000, gt=0, description="a cell longer than this rejects its row")
    metadata_join: list[MetadataJoin] = Field(
        default_factory=list, description="tables joined onto the rows by key; their columns become metadata")
    where: str | None = Field(None, description="keep only examples whose metadata match, e.g. "
                                                "\"meta.outcome == 'resolved' and meta.score >= 4\"")
    split: Literal["auto", "train", "validation"] = Field(
        "auto", description="where this input's examples go: auto (the split stage decides), train or validation "
                            "(e.g. a dataset's own test file)")

    @field_validator("roles", mode="before")
    @classmethod
    def _labels_as_text(cls, v):
        """YAML reads `{0: user, 1: assistant}` with number keys; speaker labels are compared as text."""
        if isinstance(v, dict):
            return {(str(k).lower() if isinstance(k, bool) else str(k)): r for k, r in v.items()}
        return v

    @field_validator("where")
    @classmethod
    def _where_syntax(cls, v):
        return check_where(v)

    @model_validator(mode="before")
    @classmethod
    def _joined_columns_are_metadata(cls, data):
        """Columns brought by metadata_join are carried like listed metadata (meta.<name>)."""
        if not isinstance(data, dict) or not data.get("metadata_join"):
            return data
        joins = data["metadata_join"]
        joins = [joins] if isinstance(joins, dict) else joins
        names = list(data.get("metadata") or [])
        for j in joins if isinstance(joins, list) else []:
            cols = j.get("columns") if isinstance(j, dict) else getattr(j, "columns", None)
            new = list(cols.values()) if isinstance(cols, dict) else list(cols or [])
            names += [n for n in new if isinstance(n, str) and n not in names]
        return {**data, "metadata_join": joins, "metadata": names}


class MessagesColumns(StrictModel):
    conversation_id: str
    role: str
    content: str
    order: str | None = Field(None, description="integer column giving message order; default: file order")


class TranscriptColumns(StrictModel):
    text: str = Field(description="the cell holding the whole conversation with speaker markers")
    id: str | None = Field(None, description="group key for the split; default: the row number")
    system: str | None = Field(None, description="optional column with a system prompt for the conversation")


class ThreadsColumns(StrictModel):
    id: str = Field(description="message id")
    parent: str | None = Field(None, description="id of the message this one replies to (empty for a root)")
    children: str | None = Field(None, description="ids of the replies to this message, separated by "
                                                   "tree.id_separator (used when `parent` is not set)")
    role: str = Field(description="speaker column, mapped through `roles` (or see speaker_roles)")
    content: str


class PairsColumns(StrictModel):
    prompt: str
    response: str
    system: str | None = None
    context: str | None = Field(None, description="appended to the prompt after a blank line (alpaca 'input')")
    id: str | None = Field(None, description="group key for the split; default: the row number")


class ConversationsColumns(StrictModel):
    messages: str | None = Field(None, description="list of message structs, or a JSON string of one "
                                                   "(default: 'messages', unless `pairs` is set)")
    pairs: str | None = Field(None, description="instead of messages: a list of [user, assistant] text pairs "
                                                "(PersonaChat `dialogue`), native or JSON")
    id: str | None = None
    tools: str | None = Field(None, description="column with a tools list (OpenAI format), JSON or native")
    role_key: str = Field("role", description="key of the speaker in each message ('from' for ShareGPT)")
    content_key: str = Field("content", description="key of the text in each message ('value' for ShareGPT)")
    system: str | None = Field(None, description="system prompt: a text, or a list of texts joined with "
                                                 "`system_separator` (PersonaChat `persona`)")
    response: str | None = Field(None, description="final assistant answer appended to the conversation: a text, "
                                                   "or a message object with role_key/content_key")

    @model_validator(mode="before")
    @classmethod
    def _messages_or_pairs(cls, data):
        if not isinstance(data, dict):
            return data
        if data.get("messages") is not None and data.get("pairs") is not None:
            raise ValueError("set columns.messages (a list of messages) or columns.pairs (a list of "
                             "[user, assistant] pairs), not both")
        return data if data.get("pairs") is not None else {**data, "messages": data.get("messages") or "messages"}


class MessageRowsInput(InputBase):
    """An input with one row per message (layouts messages and threads), which can filter single messages."""

    message_where: str | None = Field(
        None, description="keep only messages whose raw row matches, e.g. \"deleted == 'false'\"; a message "
                          "that does not match is left out (threads: with its replies), its row rejected as "
                          "message_filtered")

    @field_validator("message_where")
    @classmethod
    def _message_where_syntax(cls, v):
        return check_where(v)


class MessagesInput(MessageRowsInput):
    layout: Literal["messages"]
    columns: MessagesColumns
    speaker_roles: SpeakerRoles = SpeakerRoles()


class PairsInput(InputBase):
    layout: Literal["pairs"]
    columns: PairsColumns


class ConversationsInput(InputBase):
    layout: Literal["conversations"]
    columns: ConversationsColumns = ConversationsColumns()
    tool_calls: ToolCallOptions | None = Field(None, description="convert ShareGPT function_call/observation "
                                                                 "turns to OpenAI tool_calls / tool messages")
    extra_keys: Literal["drop", "keep", "reject"] = Field(
        "drop", description="message keys other than the role, the content and OpenAI's message keys (name, "
                            "tool_calls, tool_call_id, weight, ...): drop (counted per key), keep, or reject the "
                            "row (extra_message_key)")
    system_separator: str = Field("\n", description="joins the items of a list in the columns.system cell")

    @model_validator(mode="after")
    def _tool_calls_need_messages(self) -> ConversationsInput:
        if self.tool_calls and self.columns.pairs:
            raise ValueError("tool_calls converts labelled messages; columns.pairs holds plain texts, so set "
                             "columns.messages instead or remove tool_calls")
        return self

    @model_validator(mode="before")
    @classmethod
    def _tool_labels_known(cls, data):
        """The dialect's own labels (function_call -> assistant, observation -> tool) need no `roles` entry."""
        if not isinstance(data, dict) or not isinstance(data.get("tool_calls"), dict):
            return data
        roles = dict(data.get("roles") or DEFAULT_ROLES)
        known = {str(k).strip().casefold() for k in roles}
        opts = data["tool_calls"]
        for label, role in ((opts.get("call_label", "function_call"), "assistant"),
                            (opts.get("result_label", "observation"), "tool")):
            if isinstance(label, str) and label.strip().casefold() not in known:
                roles[label] = role
        return {**data, "roles": roles}


class TranscriptInput(InputBase):
    layout: Literal["transcript"]
    columns: TranscriptColumns
    markers: TranscriptMarkers = Field(description="where turns start: speakers, pattern or separator")
    speaker_roles: SpeakerRoles = SpeakerRoles()

    @model_validator(mode="after")
    def _separator_alternates(self) -> TranscriptInput:
        if self.markers.separator and self.speaker_roles.by == "column":
            raise ValueError("markers.separator turns have no speaker labels; they alternate through "
                             "speaker_roles.order, so speaker_roles.by cannot be 'column'")
        return self


class ThreadsInput(MessageRowsInput):
    layout: Literal["threads"]
    columns: ThreadsColumns
    tree: TreeOptions = TreeOptions()
    speaker_roles: SpeakerRoles = SpeakerRoles()

    @model_validator(mode="after")
    def _link(self) -> ThreadsInput:
        if not (self.columns.parent or self.columns.children):
            raise ValueError("threads need columns.parent (reply-to id) or columns.children (reply ids)")
        return self


# InputConfig, the union of every layout (these and schemas/preference_inputs.py), is in schemas/config.py
