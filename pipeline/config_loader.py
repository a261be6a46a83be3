"""Load a YAML config into `schemas.config.Config`, with `--set` overrides and errors that name file and key."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.config_yaml import key_position, load_yaml_value, parse_config_yaml
from pipeline.errors import UserError
from pipeline.stages import stage_module
from pipeline.targets import (
    UnknownTargetError,
    check_tokenizer_files,
    preference_model_problem,
    resolve_target,
)
from schemas.config import Config

_INDEX = re.compile(r"^(?P<key>[^\[\]]+)?((\[(?P<idx>\d+)\])+)?$")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate a config; every problem becomes one UserError naming file and key."""
    path = Path(path)
    _check_config_path(path)
    try:
        raw, tree = parse_config_yaml(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise UserError(f"{path}: the config file is not readable (permission denied); "
                        f"check its permissions, e.g. chmod u+r {path}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise UserError(f"{path}: {where}invalid YAML: {problem}") from None
    if raw is None:
        raise UserError(f"{path}: the file is empty; it needs at least `inputs:` and `stages:`")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the top level must be a mapping of keys (inputs, convert, stages, output)")
    from_file, set_at = raw, {}
    for item in overrides:
        raw, where = apply_override(raw, item)
        set_at[where] = item
    raw = _model_follows_provider(raw, from_file, set_at)
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        raise UserError("\n".join(
            f"{_blamed(path, set_at, where)}: {line}{_position_note(tree, from_file, raw, where)}"
            for line, where in describe_validation_error(e, raw))) from None
    problems = semantic_problems(config)
    if problems:
        raise UserError("\n".join(
            f"{_blamed(path, set_at, loc)}: {_render_loc(loc)}{_line_note(tree, from_file, raw, loc)}: {message}"
            for loc, message in problems))
    return config


def _blamed(path: Path, set_at: dict[tuple, str], loc: tuple) -> str:
    """Who wrote the value at `loc`: the last `--set` whose key is `loc` or contains it, else the file."""
    loc = tuple(loc)
    for where, item in reversed(set_at.items()):
        shorter = min(len(loc), len(where))
        if loc and loc[:shorter] == where[:shorter]:
            return f"--set {item!r}"
    return str(path)


def _check_config_path(path: Path) -> None:
    """Stop with what was found when `path` is not an existing regular file."""
    if str(path) in ("", "."):
        raise UserError("the config path is empty (pass a YAML file, e.g. --config configs/default.yaml)")
    try:
        path.stat()
    except OSError as e:
        if path.is_symlink():
            raise UserError(f"{path}: a symbolic link that leads nowhere ({e.strerror}); "
                            "point it at the YAML file or pass the file itself") from None
        raise UserError(f"{path}: config file not found (pass an existing YAML file, e.g. configs/default.yaml)") \
            from None
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a config file (pass the YAML file, e.g. {path / 'config.yaml'})")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file (a pipe, socket or device); pass a YAML file")


def config_hash(config: Config) -> str:
    """A stable hash of the validated config (defaults included), for manifests and cache keys."""
    blob = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------- checks beyond the schema


def semantic_problems(config: Config) -> list[tuple[tuple, str]]:
    """(key path, message) for each value that the schema accepts but the pipeline cannot use:
    a target (or the older stages.tokens.model) that does not resolve in its destination's table."""
    problems = []
    tokens = config.stage("tokens")
    for i, cfg in enumerate(config.target_configs()):
        try:
            target = resolve_target(cfg, tokens, config.is_preference())
            if tokens is not None:
                check_tokenizer_files(target)
        except UnknownTargetError as e:
            if config.targets is not None:
                loc = ("targets", i, e.key)
            elif config.target is not None:
                loc = ("target", e.key)
            else:
                loc = ("stages", config.stages.index(tokens), "model") if tokens else ("target", e.key)
            problems.append((loc, str(e)))
    if config.is_preference():
        problems += preference_problems(config)
    if config.execution.backend == "ray" and importlib.util.find_spec("ray") is None:
        why = ("'ray' needs Ray, which is not installed in this environment: run `make setup-ray` (it installs "
               "the pinned Ray of requirements-ray.lock into .venv), or set execution.backend: local")
        problems.append((("execution", "backend"), why))
    return problems


def preference_problems(config: Config) -> list[tuple[tuple, str]]:
    """A run of preference pairs: every stage must handle the rejected reply too (its module declares
    `PREFERENCE = True`), and every target must write preference files (`to_preference_record`)."""
    problems = []
    for i, stage in enumerate(config.stages):
        if not getattr(stage_module(stage.name), "PREFERENCE", False):
            problems.append((("stages", i, "name"),
                             (f"stage {stage.name!r} does not handle preference pairs yet: it would pass the "
                             "rejected reply through unscreened (docs/preference-design.md); remove it from "
                             "stages for this run")))
    for i, cfg in enumerate(config.target_configs()):
        try:
            target = resolve_target(cfg, config.stage("tokens"), True)
        except UnknownTargetError:
            continue  # reported above
        where = ("targets", i) if config.targets is not None else ("target",)
        if not hasattr(target.module, "to_preference_record"):
            problems.append(((*where, "provider"), getattr(target.module, "NO_PREFERENCE", None) or
                             f"{target.provider}: no preference (DPO) file format is written for this destination; "
                             "remove it from the targets of this run"))
        elif (wrong_model := preference_model_problem(target)) is not None:
            problems.append(((*where, "model"), wrong_model))
    return problems


def _render_loc(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else ("." if i else "") + p for i, p in enumerate(loc))


def _line_note(tree: yaml.Node | None, from_file: typing.Any, raw: typing.Any, loc: tuple) -> str:
    """` (line N)`: where the YAML file writes the key at `loc`; nothing when the file does not write it
    or a --set override changed it."""
    position = _written_position(tree, from_file, raw, loc)
    return "" if position is None else f" (line {position[0]})"


def _position_note(tree: yaml.Node | None, from_file: typing.Any, raw: typing.Any, loc: tuple) -> str:
    """` (line N, column M)`: where the YAML file writes the offending key (or, for a missing key, the
    block that lacks it); nothing when a --set override changed the value."""
    position = _written_position(tree, from_file, raw, loc)
    return "" if position is None else f" (line {position[0]}, column {position[1]})"


def _written_position(tree: yaml.Node | None, from_file: typing.Any, raw: typing.Any,
                      loc: tuple) -> tuple[int, int] | None:
    if not loc or _value_at(from_file, loc) != _value_at(raw, loc):
        return None
    return key_position(tree, loc)


def _value_at(raw: typing.Any, loc: tuple) -> typing.Any:
    for part in loc:
        if isinstance(raw, dict):
            raw = raw.get(part)
        elif isinstance(raw, list) and isinstance(part, int) and part < len(raw):
            raw = raw[part]
        else:
            return None
    return raw


# --------------------------------------------------------------------------- overrides


def _model_follows_provider(raw: dict, from_file: dict, set_at: dict) -> dict:
    """`--set target.provider=P` alone switches destination: the file's `target.model` names a model of the
    file's provider, so it gives way to P's default model (unless `--set target.model=...` names one too)."""
    if ("target", "provider") not in set_at or ("target", "model") in set_at:
        return raw
    before, after = from_file.get("target"), raw.get("target")
    if not isinstance(before, dict) or not isinstance(after, dict) or "model" not in after:
        return raw
    if before.get("provider", "openai") == after.get("provider"):
        return raw
    return {**raw, "target": {k: v for k, v in after.items() if k != "model"}}



def apply_override(raw: dict, item: str) -> tuple[dict, tuple]:
    """Apply one `key.path=value` override: (the new config, the key path set, list positions resolved).
    Value is parsed as YAML (so 0.2, true, [a, b] work).

    Path parts are mapping keys, list indexes (`inputs[0]` or `inputs.0`), or inside `stages` a stage
    name (`stages.split.seed=3`).
    """
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected key.path=value, e.g. --set stages.split.seed=7")
    key, _, value_text = item.partition("=")
    try:
        value = load_yaml_value(value_text) if value_text.strip() else ""
    except yaml.YAMLError:
        value = value_text
    parts: list[str | int] = []
    for token in key.strip().split("."):
        m = _INDEX.match(token)
        if not m or not token:
            raise UserError(f"--set {item!r}: cannot read key path {key!r}")
        if m.group("key"):
            parts.append(int(m.group("key")) if m.group("key").isdigit() else m.group("key"))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", token))
    raw = copy.deepcopy(raw)
    node: typing.Any = raw
    resolved: list[str | int] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        shown = ".".join(str(p) for p in parts[: depth + 1])
        if isinstance(node, list):
            if isinstance(part, str):  # a stage by name
                hits = [i for i, s in enumerate(node) if isinstance(s, dict) and s.get("name") == part]
                if not hits:
                    raise UserError(f"--set {item!r}: no entry named {part!r} in {shown.rsplit('.', 1)[0]}")
                part = hits[0]
            if not 0 <= part < len(node):
                raise UserError(f"--set {item!r}: {shown}: index out of range (the list has {len(node)} items)")
        elif not isinstance(node, dict):
            raise UserError(f"--set {item!r}: {shown}: cannot set a key inside a {type(node).__name__}")
        resolved.append(part)
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]
    return raw, tuple(resolved)


# --------------------------------------------------------------------------- error messages


def describe_validation_error(error: ValidationError, raw: dict) -> list[tuple[str, tuple]]:
    """One (line, key path) per problem: `key.path: what is wrong (what is allowed)` and the path of the
    key as the user wrote it (without pydantic's union tags), to find its line in the file."""
    lines = []
    for err in error.errors(include_url=False):
        loc, model, written = _user_loc(err["loc"], raw)
        if err["type"].startswith("union_tag"):
            tag = err.get("ctx", {}).get("discriminator", "").strip("'")
            loc += "." + tag
            written += (tag,)
        lines.append((f"{loc or '(top level)'}: {_message(err, model)}", written))
    return lines


def _user_loc(loc: tuple, raw: typing.Any) -> tuple[str, type[BaseModel] | None, tuple]:
    """Drop pydantic's union-tag parts from `loc`, render it as `inputs[0].columns.role`,
    find the model class that owns the last key (to list allowed keys), and give the parts kept."""
    out = ""
    written: tuple = ()
    node: typing.Any = raw
    tp: typing.Any = Config
    owner: type[BaseModel] | None = None
    for part in loc:
        tp = _unwrap(tp, part)
        if isinstance(part, int):
            out += f"[{part}]"
            written += (part,)
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in (node.get("layout"), node.get("name")):
            continue  # a discriminator tag, not a key the user wrote
        owner = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else owner
        out += ("." if out else "") + str(part)
        written += (part,)
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in _user_keys(tp):
            tp = _user_keys(tp)[part].annotation
    return out, owner, written


def _user_keys(model: type[BaseModel]) -> dict:
    """The keys a user writes for `model` (a field's alias where it has one, e.g. inputs[].json) -> field."""
    return {f.alias or name: f for name, f in model.model_fields.items()}


def _unwrap(tp: typing.Any, part: typing.Any) -> typing.Any:
    """Step through list[...] / Annotated[Union[...]] / Optional to the type at `part`."""
    for _ in range(6):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (list, tuple) and isinstance(part, int):
            return typing.get_args(tp)[0]
        elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            variants = [a for a in typing.get_args(tp) if a is not type(None)]
            for v in variants:
                if isinstance(v, type) and issubclass(v, BaseModel):
                    for tag_field in ("layout", "name"):
                        f = v.model_fields.get(tag_field)
                        if f is not None and part in typing.get_args(f.annotation):
                            return v
            if len(variants) == 1:
                tp = variants[0]
            else:
                return tp
        else:
            return tp
    return tp


def _message(err: dict, model: type[BaseModel] | None) -> str:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        return f"{ctx.get('tag')!r} is not one of {tags}"
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'tag')} key"
    if kind == "literal_error":
        allowed = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {allowed}"
    if kind == "extra_forbidden":
        allowed = ", ".join(_user_keys(model)) if model else ""
        return "unknown key" + (f" (allowed here: {allowed})" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']} (got {value!r})" if not isinstance(value, (dict, list)) else err["msg"]
