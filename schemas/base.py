"""The base model every config block uses: unknown keys are rejected, values are immutable."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

MOVED_TO_EXECUTION_WORKERS = ("processes are set for the whole run by `execution.workers` (default: every CPU "
                              "this process may use) and `execution.parallel_min_examples`; delete this key")


class StrictModel(BaseModel):
    """A config block. `REMOVED_KEYS` names keys an older chatprep accepted, each with what replaces it,
    so an old config gets that fix instead of a bare "unknown key"."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    REMOVED_KEYS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = [k for k in cls.REMOVED_KEYS if k in data]
            if found:
                raise ValueError("; ".join(f"'{k}' was removed: {cls.REMOVED_KEYS[k]}" for k in found))
        return data
