"""The recipes for real exports in docs/layouts.md, as tests read them.

Each recipe there is a fenced ```yaml block whose first line is `# recipe: <id>`; it holds one entry of
`inputs:` (a mapping, no leading dash) and may hold a `convert:` block under the key `convert`. Tests write
a small file of the recipe's shape, point the recipe at it and run it, so every documented recipe works.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.config_yaml import load_yaml_value

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "layouts.md"
_BLOCK = re.compile(r"```yaml\n# recipe: (?P<id>[\w-]+)\n(?P<body>.*?)```", re.DOTALL)


def recipes() -> dict[str, dict]:
    """recipe id -> its parsed YAML (the input entry, plus `convert` when the recipe has one)."""
    found: dict[str, dict] = {}
    for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        if m["id"] in found:
            raise ValueError(f"{DOC}: recipe {m['id']!r} appears twice")
        found[m["id"]] = load_yaml_value(m["body"])  # as chatprep reads configs: YAML 1.2 scalars
    return found


def recipe_config(recipe_id: str, path: str | Path, stages: list[dict] | None = None) -> dict:
    """A whole run config from recipe `recipe_id` with its input pointed at `path` (default stages:
    validate, split, export)."""
    entry = dict(recipes()[recipe_id])
    convert = entry.pop("convert", None)
    entry["path"] = str(path)
    config = {"inputs": [entry], "stages": stages or [{"name": "validate"}, {"name": "split"}, {"name": "export"}]}
    if convert:
        config["convert"] = convert
    return config
