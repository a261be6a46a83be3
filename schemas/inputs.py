"""Config of the raw inputs: where the files are, how to read them, and which layout maps them to chats."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from schemas.base import StrictModel

Role = Literal["system", "user", "assistant", "tool", "function"]

DEFAULT_ROLES: dict[str, str] = {r: r for r in ("system", "user", "assistant", "tool", "function")}


class CsvOptions(StrictModel):
    separator: str = Field(",", description="field separator, one character (use '\\t' for TSV)")
    quote: str = Field('"', description="quote character, one character")
    encoding: str = Field("utf-8", description="text encoding of the file, e.g. utf-8, cp1252, latin-1")
    encoding_errors: Literal["strict", "replace"] = Field(
        "strict", description="strict: stop with the line of the first undecodable byte; replace: use U+FFFD"
    )
    has_header: bool = True

    @field_validator("separator", "quote")
    @classmethod
    def _one_char(cls, v: str) -> str:
        v = v.encode().decode("unicode_escape") if v.startswith("\\") else v
        if len(v) != 1:
            raise ValueError(f"must be exactly one character, got {v!r}")
        return v


class InputBase(StrictModel):
    path: str = Field(description="a file or a glob (relative to the working directory)")
    format: Literal["auto", "csv", "parquet", "jsonl", "json"] = "auto"
    name: str | None = Field(None, description="label for this source in stats and report (default: the path)")
    csv: CsvOptions = CsvOptions()
    roles: dict[str, Role] = Field(
        default_factory=lambda: dict(DEFAULT_ROLES),
        description="raw speaker label -> system/user/assistant/tool/function; matched case-insensitively",
    )
    metadata: list[str] = Field(
        default_factory=list, description="raw columns carried onto each example as meta.<column>"
    )
    max_cell_chars: int = Field(2_000_000, gt=0, description="a cell longer than this rejects its row")


class MessagesColumns(StrictModel):
    conversation_id: str
    role: str
    content: str
    order: str | None = Field(None, description="integer column giving message order; default: file order")


class PairsColumns(StrictModel):
    prompt: str
    response: str
    system: str | None = None
    context: str | None = Field(None, description="appended to the prompt after a blank line (alpaca 'input')")
    id: str | None = Field(None, description="group key for the split; default: the row number")


class ConversationsColumns(StrictModel):
    messages: str = Field("messages", description="list of message structs, or a JSON string of one")
    id: str | None = None
    tools: str | None = Field(None, description="column with a tools list (OpenAI format), JSON or native")
    role_key: str = Field("role", description="key of the speaker in each message ('from' for ShareGPT)")
    content_key: str = Field("content", description="key of the text in each message ('value' for ShareGPT)")


class MessagesInput(InputBase):
    layout: Literal["messages"]
    columns: MessagesColumns


class PairsInput(InputBase):
    layout: Literal["pairs"]
    columns: PairsColumns


class ConversationsInput(InputBase):
    layout: Literal["conversations"]
    columns: ConversationsColumns = ConversationsColumns()


InputConfig = Annotated[Union[MessagesInput, PairsInput, ConversationsInput], Field(discriminator="layout")]
