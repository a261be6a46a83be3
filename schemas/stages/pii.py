"""Parameters of the `pii` stage (batch): which detectors run, on which roles, and what happens on a hit."""

from typing import Literal

from pydantic import Field

from schemas.base import StrictModel

PiiType = Literal["email", "phone", "credit_card", "iban", "ip_address", "national_id", "url_credentials", "secret"]
PiiAction = Literal["redact", "drop", "flag"]
Role = Literal["system", "user", "assistant", "tool", "function"]
ALL_TYPES: tuple[str, ...] = PiiType.__args__  # type: ignore[attr-defined]


class PiiParams(StrictModel):
    name: Literal["pii"]
    types: list[PiiType] = Field(list(ALL_TYPES), min_length=1, description="detectors that run")
    action: PiiAction = Field(
        "redact", description="redact: replace with [EMAIL] etc.; drop: reject the example; flag: keep it with a "
        "'pii:<type>' flag")
    actions: dict[PiiType, PiiAction] = Field(
        default_factory=dict, description="per-type overrides of `action`, e.g. {secret: drop}")
    roles: list[Role] = Field(
        ["system", "user", "assistant", "tool", "function"], min_length=1,
        description="messages whose text content is scanned (tool-call arguments are never touched)")
    samples_per_type: int = Field(5, ge=0, le=20, description="redacted snippets kept per type for the report")
