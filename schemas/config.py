"""The whole run config: YAML loads into this model (unknown keys rejected everywhere)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel
from schemas.conversion_options import WeightOptions, WindowOptions
from schemas.inputs import ConversationsInput, MessagesInput, PairsInput, ThreadsInput, TranscriptInput
from schemas.preference_inputs import EditsInput, PreferenceInput, RatingsInput
from schemas.stages import StageParams
from schemas.target import TargetConfig

InputConfig = Annotated[MessagesInput | PairsInput | ConversationsInput | TranscriptInput | ThreadsInput
                        | PreferenceInput | RatingsInput | EditsInput, Field(discriminator="layout")]
# inputs whose rows give pairs (docs/preference-design.md)
PREFERENCE_LAYOUTS = ("preference", "preference_ratings", "preference_edits")
_HOST_PORT = re.compile(r"[A-Za-z0-9._-]+:\d{1,5}")


class ConvertConfig(StrictModel):
    system_prompt: str | None = Field(None, description="added to conversations that have no system message")
    merge_consecutive: bool = Field(True, description="join consecutive messages of the same role")
    merge_separator: str = "\n"
    trim_whitespace: bool = True
    drop_empty_messages: bool = True
    drop_trailing_turns: bool = Field(True, description="drop turns after the last assistant message")
    windows: WindowOptions | None = Field(None, description="split long conversations into several examples")
    weights: WeightOptions | None = Field(None, description="weight 0 on some assistant turns")


class OutputConfig(StrictModel):
    dir: str = "out"


class CacheConfig(StrictModel):
    dir: str = Field(".cache", description="stage checkpoints and caches (relative to the working directory)")
    checkpoints: bool = Field(True, description="reuse stage results when input and config are unchanged")
    max_gb: float | None = Field(20, gt=0, description="after a run, remove the least recently used checkpoints "
                                 "beyond this size (never the current run's); null = keep all")


class RayConfig(StrictModel):
    address: str | None = Field(
        None, description="null: the RAY_ADDRESS environment variable if set, else start a local Ray instance sized "
        "to execution.workers; 'auto' joins the cluster this machine belongs to; 'ray://host:10001' one by its client "
        "address")
    max_retries: int = Field(3, ge=0, description="times Ray reruns a task whose worker process died (then the "
                             "run stops, nothing half-written)")
    object_store_mb: int | None = Field(None, ge=100, description="object store of a local Ray instance started by "
                                        "chatprep (null: Ray's default, 30 % of memory)")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value == "auto" or value.startswith("ray://") or _HOST_PORT.fullmatch(value):
            return value
        raise ValueError(f"{value!r} is not a Ray address: use auto, ray://host:10001 (Ray client) or host:6379 "
                         "(the head node's GCS), or leave it out to start a local Ray instance")


class ExecutionConfig(StrictModel):
    backend: Literal["local", "ray"] = Field(
        "local", description="local: a process pool on this machine; ray: Ray tasks on a local Ray instance or a "
        "cluster (make setup-ray)")
    workers: int | None = Field(None, ge=1, description="processes for chunked batch stages (default: all cores; "
                                "on ray: the cluster's CPUs)")
    chunk_size: int = Field(20_000, ge=1, description="examples per chunk; results do not depend on it")
    parallel_min_examples: int = Field(40_000, ge=0, description="below this, chunks run in-process")
    ray: RayConfig = RayConfig()


class ReportConfig(StrictModel):
    # 2 %: the line between a filter doing its job and one likely dropping good data of one source
    drop_warning_share: float | None = Field(
        0.02, gt=0, lt=1, description="warn (high_drop_share, with five samples) when a stage drops more than "
        "this share of one source's examples; null = never")
    drop_warning_exempt: list[str] = Field(
        [], description="stages whose drop shares are shown but never warned about (e.g. dedup on data with "
        "known duplicates)")


class Config(StrictModel):
    inputs: list[InputConfig] = Field(min_length=1)
    convert: ConvertConfig = ConvertConfig()
    stages: list[StageParams] = Field(min_length=1)
    output: OutputConfig = OutputConfig()
    cache: CacheConfig = CacheConfig()
    execution: ExecutionConfig = ExecutionConfig()
    report: ReportConfig = ReportConfig()
    target: TargetConfig | None = Field(None, description="where you will fine-tune (default: openai)")
    targets: list[TargetConfig] | None = Field(None, min_length=1, description="several destinations in one run, "
                                               "each into out/<provider>-<model>/")

    @model_validator(mode="after")
    def _one_target_key(self) -> Config:
        if self.target is not None and self.targets is not None:
            raise ValueError("set either `target:` (one destination) or `targets:` (several), not both")
        tokens = self.stage("tokens")
        if tokens is not None and tokens.model is not None and (self.target or self.targets):
            raise ValueError("stages.tokens.model and target(s) are both set: the model you fine-tune is set once, "
                             "in target.model (delete stages.tokens.model)")
        return self

    def target_configs(self) -> list[TargetConfig]:
        """The configured destinations in order; without `target(s):` one openai target (with the tokens stage's
        `model` when it has one, the older place of that key)."""
        if self.targets is not None:
            return list(self.targets)
        if self.target is not None:
            return [self.target]
        tokens = self.stage("tokens")
        return [TargetConfig(model=getattr(tokens, "model", None))]

    @model_validator(mode="after")
    def _one_kind_of_file(self) -> Config:
        """A run writes SFT data or preference pairs, not both; a pair run keeps several pairs of one prompt."""
        kinds = {i: inp.layout in PREFERENCE_LAYOUTS for i, inp in enumerate(self.inputs)}
        if len(set(kinds.values())) > 1:
            pref = [f"inputs[{i}]" for i, p in kinds.items() if p]
            sft = [f"inputs[{i}]" for i, p in kinds.items() if not p]
            raise ValueError(f"{', '.join(pref)} give preference pairs and {', '.join(sft)} give chat (SFT) "
                             "examples: one run writes one kind of file; put them in separate configs")
        dedup = self.stage("dedup")
        if self.is_preference() and dedup is not None and dedup.exact_prompt:
            raise ValueError("stages.dedup.exact_prompt is true, but several pairs of one prompt are legitimate "
                             "preference data (the split keeps them together); set exact_prompt: false")
        return self

    def is_preference(self) -> bool:
        """Whether the inputs give preference pairs (the run writes preference files)."""
        return any(inp.layout in PREFERENCE_LAYOUTS for inp in self.inputs)

    @model_validator(mode="after")
    def _stage_order(self) -> Config:
        names = [s.name for s in self.stages]
        for n in set(names):
            if names.count(n) > 1:
                raise ValueError(f"stage '{n}' appears {names.count(n)} times; list each stage once")
        if names[-1] != "export":
            raise ValueError("the last stage must be 'export' (it writes train.jsonl and validation.jsonl)")
        if "dedup" in names and "split" in names and names.index("dedup") > names.index("split"):
            raise ValueError("stage 'dedup' must come before 'split': duplicates are removed or grouped first, "
                             "so no near-duplicate pair ends up in both train and validation")
        return self

    @model_validator(mode="after")
    def _input_splits(self) -> Config:
        """`split: validation` on an input is applied by the split stage, and train.jsonl needs an input."""
        marked = [i for i, inp in enumerate(self.inputs) if inp.split == "validation"]
        if marked and self.stage("split") is None:
            raise ValueError(f"inputs[{marked[0]}].split is 'validation' but stages has no 'split' stage to apply "
                             "it; add `- name: split` before export (or remove the input's split key)")
        if len(marked) == len(self.inputs):
            raise ValueError("every input has split: validation, so train.jsonl would be empty; set split: auto "
                             "(or train) on the inputs to train on")
        return self

    @model_validator(mode="after")
    def _drop_warning_exempt(self) -> Config:
        names = [s.name for s in self.stages]
        unknown = [n for n in self.report.drop_warning_exempt if n not in names]
        if unknown:
            raise ValueError(f"report.drop_warning_exempt names {', '.join(map(repr, unknown))}, which "
                             f"{'is' if len(unknown) == 1 else 'are'} not in stages ({', '.join(names)}); "
                             "list only configured stages")
        return self

    def stage(self, name: str):
        """The params of stage `name`, or None when it is not in the list."""
        return next((s for s in self.stages if s.name == name), None)
