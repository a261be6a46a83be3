"""Parameters of the `moderation` stage: screening texts with OpenAI's moderation endpoint.

Budgets default to OpenAI's tier-1 limits for omni-moderation (500 requests and 10,000 tokens per minute)
and are replaced by the limits OpenAI announces in its x-ratelimit-limit-* response headers (your
account's real ones) unless follow_server_limits is false.
"""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.base import StrictModel

Category = Literal[
    "harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm", "self-harm/instructions",
    "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic", "illicit", "illicit/violent",
]


class ModerationParams(StrictModel):
    name: Literal["moderation"]
    required: bool = Field(False, description="true: a run without OPENAI_API_KEY is an error, not a warning")
    model: str = Field("omni-moderation-latest", description="moderation model, e.g. omni-moderation-latest")
    screen: Literal["all", "user_and_assistant"] = Field(
        "all", description="which messages are screened: every message, or only user and assistant ones")
    action: Literal["drop", "flag"] = Field(
        "drop", description="drop: reject flagged examples; flag: keep them, noting moderation:<category> in flags")
    preference_rejected: Literal["drop", "keep"] = Field(
        "drop", description="preference runs: a pair whose rejected reply is flagged is dropped (moderation_flagged, "
                            "whatever `action`: sending it to a provider may breach its policy); keep: keep the pair, "
                            "flagged 'moderation:rejected_flagged' (a toxic rejected reply is a useful negative). "
                            "The prompt and the chosen reply follow `action`")
    use_flagged: bool = Field(True, description="OpenAI's own `flagged` verdict decides (else thresholds only)")
    thresholds: dict[Category, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="category -> score at or above which a text is flagged, e.g. "
                                          "{self-harm: 0.2}; adds to (does not replace) OpenAI's verdict")
    chunk_chars: int = Field(2000, ge=100, le=100_000, description="texts longer than this are split into chunks")
    chunk_overlap_chars: int = Field(100, ge=0, description="consecutive chunks share this many characters")
    batch_size: int = Field(32, ge=1, le=2048, description="inputs per request (one request classifies an array)")
    batch_max_tokens: int = Field(4000, ge=1, description="estimated tokens per request (UTF-8 bytes / 4)")
    requests_per_minute: float = Field(500, gt=0, description="request budget; the stage paces at 95% of it")
    tokens_per_minute: float | None = Field(10_000, gt=0, description="token budget (null: no token limit)")
    follow_server_limits: bool = Field(
        True, description="adopt the per-minute limits the server announces (x-ratelimit-limit-* headers), "
                          "higher or lower; false: never go above the configured budgets")
    concurrency: int = Field(8, ge=1, le=256, description="requests in flight at once")
    timeout_seconds: float = Field(30.0, gt=0, description="per request")
    max_retries: int = Field(6, ge=0, description="per batch: retries after 5xx, timeouts, connection errors, "
                                                  "unusable answers (exponential backoff)")
    max_rate_limited_retries: int = Field(30, ge=0, description="per batch: retries after 429 (honouring retry-after)")
    rate_limited_give_up_seconds: float = Field(
        600.0, gt=0, description="give up when the server has answered only 429s for this long (seconds, "
                                 "counted from the first 429 after the last answer, including the wait it asks)")
    backoff_seconds: float = Field(1.0, gt=0, description="first backoff delay; doubles per retry, capped at 30 s")
    cache_dir: str | None = Field(None, description="answer cache folder (default: <cache.dir>/moderation)")

    @model_validator(mode="after")
    def _overlap(self) -> "ModerationParams":
        if self.chunk_overlap_chars > self.chunk_chars // 2:
            raise ValueError(f"chunk_overlap_chars ({self.chunk_overlap_chars}) must be at most half of "
                             f"chunk_chars ({self.chunk_chars})")
        return self
