"""The stage registry: YAML stage name -> module. One module per stage, same name as in the YAML."""

from __future__ import annotations

import importlib
from types import ModuleType

from schemas.stages import STAGE_NAMES


def stage_module(name: str) -> ModuleType:
    if name not in STAGE_NAMES:
        raise KeyError(name)
    return importlib.import_module(f"pipeline.stages.{name}.stage")
