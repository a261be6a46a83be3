"""Parameters of the `pii` stage (batch): which detectors run, on which roles, and what happens on a hit."""

from typing import Literal

from pydantic import Field, field_validator

from schemas.base import StrictModel

PiiType = Literal["email", "phone", "credit_card", "iban", "ip_address", "national_id", "url_credentials", "secret"]
PiiAction = Literal["redact", "drop", "flag"]
Role = Literal["system", "user", "assistant", "tool", "function"]
ALL_TYPES: tuple[str, ...] = PiiType.__args__  # type: ignore[attr-defined]
# The 15 countries of the labelled recall set (tests/test_pii_recall.py); pipeline/stages/pii/phones.py
# holds the same tuple as DEFAULT_REGIONS (a test checks they agree).
DEFAULT_PHONE_REGIONS = ["US", "GB", "IN", "CN", "ID", "BR", "DE", "FR", "JP", "KR", "MX", "NG", "PL", "TR", "VN"]


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
    phone_regions: list[str] = Field(
        DEFAULT_PHONE_REGIONS, min_length=1,
        description="ISO 3166-1 alpha-2 regions whose national phone formats are accepted (libphonenumber); "
        "numbers written with + or 00 are accepted for every country")
    samples_per_type: int = Field(5, ge=0, le=20, description="redacted snippets kept per type for the report")

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        import phonenumbers  # a third-party library, not pipeline/: the schema stays a leaf

        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"{unknown} are not regions libphonenumber knows: use upper-case ISO 3166-1 "
                             f"alpha-2 codes such as {DEFAULT_PHONE_REGIONS[:4]}")
        return regions
