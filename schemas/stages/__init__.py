"""One parameter model per stage, keyed by `name`; the YAML's `stages:` list is a list of these.

To add a stage: write schemas/stages/<name>.py with a `<Name>Params` model whose `name` is a
Literal, add it to STAGE_PARAMS below, and add pipeline/stages/<name>.py with `run()`.
"""

from typing import Annotated, Union

from pydantic import Field

from schemas.stages.dedup import DedupParams
from schemas.stages.export import ExportParams
from schemas.stages.heuristics import HeuristicsParams
from schemas.stages.language import LanguageParams
from schemas.stages.moderation import ModerationParams
from schemas.stages.normalize import NormalizeParams
from schemas.stages.pii import PiiParams
from schemas.stages.split import SplitParams
from schemas.stages.tokens import TokensParams
from schemas.stages.validate import ValidateParams

STAGE_PARAMS = (
    NormalizeParams,
    ValidateParams,
    HeuristicsParams,
    PiiParams,
    LanguageParams,
    DedupParams,
    TokensParams,
    ModerationParams,
    SplitParams,
    ExportParams,
)

StageParams = Annotated[Union[STAGE_PARAMS], Field(discriminator="name")]  # type: ignore[valid-type]  # noqa: UP007 (a union built from the tuple)

STAGE_NAMES = tuple(p.model_fields["name"].annotation.__args__[0] for p in STAGE_PARAMS)
