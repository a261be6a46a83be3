"""Config YAML read with YAML 1.2 (core schema) scalars, as a user reads the file.

PyYAML implements YAML 1.1, where `no`, `yes`, `on`, `off` are booleans, `012` is octal, `1:20` is 80 and
`2024-01-02` a date: `allowed: [en, no]` would hold False and `roles: {yes: user, on: system}` would
merge two keys into True. Here only true/false (any case) are booleans, and numbers are YAML 1.2's
decimal, 0o octal and 0x hex integers and decimal floats; everything else stays a string. A mapping that
repeats a key is an error naming both lines (1.1 loaders silently keep the last value).

`parse_config_yaml` also returns the node tree, so an error can name the line and column of a key.
"""

from __future__ import annotations

import re
import typing

import yaml

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_YAML11_ONLY = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_MERGE = "tag:yaml.org,2002:merge"


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate keys refused."""

    yaml_implicit_resolvers: typing.ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML11_ONLY]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text)

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node).lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        return float("nan") if text == ".nan" else float(text)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"duplicate key {key!r} (first written at line {seen[key].line + 1}); a mapping holds each "
                    f"key once: remove or merge one of them", key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:float", Yaml12Loader.construct_yaml_float)


def parse_config_yaml(text: str) -> tuple[typing.Any, yaml.Node | None]:
    """(the data, its node tree); raises yaml.YAMLError with a problem_mark."""
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        return (None if node is None else loader.construct_document(node)), node
    finally:
        loader.dispose()


def load_yaml_value(text: str) -> typing.Any:
    """One value (a --set override) with the same scalar rules."""
    return parse_config_yaml(text)[0]


def key_position(node: yaml.Node | None, path: typing.Sequence[str | int]) -> tuple[int, int] | None:
    """(line, column), 1-based, of the key at `path` (a list item: the item itself); when the file does
    not write that key, the position of its nearest written parent. None for the top level."""
    found = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                        None)
            if pair is None:
                break
            found, node = pair[0].start_mark, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            found = node.start_mark
        else:
            break
    return None if found is None else (found.line + 1, found.column + 1)
