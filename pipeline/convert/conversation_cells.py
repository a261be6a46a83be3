"""The cells of a `conversations` row besides its messages: a list of [user, assistant] pairs
(`columns.pairs`), a system prompt that may be a list of texts (`columns.system`), and a final answer
(`columns.response`). Each reader returns (value, None) or (None, (reason, detail)); cells come as
native values (Parquet lists and structs) or as JSON text (CSV, and the nested values of JSON files).
"""

from __future__ import annotations

import json

from pipeline.convert.turns import Turn
from pipeline.ingest import json_text
from pipeline.ingest.json_text import TooDeeplyNested

Problem = tuple[str, str]


def parse_cell(cell, where: str) -> tuple[object, Problem | None]:
    """A cell that holds a JSON value as text, or a native value. Returns (value, problem):
    `invalid_json` or `too_deeply_nested`."""
    if not isinstance(cell, str):
        return cell, None
    try:
        return json_text.loads(cell), None
    except json.JSONDecodeError as e:
        return None, ("invalid_json", f"{where}: invalid JSON: {e.msg} at character {e.pos}")
    except TooDeeplyNested as e:
        return None, ("too_deeply_nested", f"{where}: {e}")


def _json_list(cell):
    """A native list, or a text that is a JSON array; anything else as it is."""
    if isinstance(cell, str) and cell.lstrip().startswith("["):
        try:
            value = json_text.loads(cell)
        except (json.JSONDecodeError, TooDeeplyNested):
            return cell
        return value if isinstance(value, list) else cell
    return cell


def pair_turns(cell, where: str) -> tuple[list[Turn] | None, Problem | None]:
    """[[user, assistant], ...] -> alternating user and assistant turns; a pair that is not two texts
    rejects the row (`malformed_pair`)."""
    pairs, err = parse_cell(cell, where)
    if err:
        return None, err
    if not isinstance(pairs, list) or not pairs:
        return None, ("malformed_conversation", f"{where}: expected a non-empty list of [user, assistant] pairs")
    turns = []
    for n, pair in enumerate(pairs, start=1):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            return None, ("malformed_pair", (f"{where}, pair {n}: expected [user, assistant] (two texts), "
                                            f"got {_shape(pair)}"))
        turns += [Turn({"role": "user", "content": pair[0]}), Turn({"role": "assistant", "content": pair[1]})]
    return turns, None


def _shape(pair) -> str:
    if not isinstance(pair, list):
        return f"a {type(pair).__name__}"
    if len(pair) != 2:
        return f"{len(pair)} item{'' if len(pair) == 1 else 's'}"
    return f"a {next(type(t).__name__ for t in pair if not isinstance(t, str))} item"


def system_text(cell, separator: str, where: str) -> tuple[str | None, Problem | None]:
    """The system prompt of a cell: a text, or a list of texts joined with `separator`; None when empty."""
    value = _json_list(cell)
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            bad = next(item for item in value if not isinstance(item, str))
            return None, ("invalid_system_prompt", (f"{where}: expected a text or a list of texts, got an item "
                                                   f"{json.dumps(bad, ensure_ascii=False)[:80]}"))
        value = separator.join(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        return None, ("invalid_system_prompt", (f"{where}: expected a text or a list of texts, "
                                               f"got a {type(value).__name__}"))
    return value, None


def response_message(cell, role_key: str, content_key: str, where: str) -> tuple[dict | str | None, Problem | None]:
    """The final answer: a text, or a message object for the caller to map like the other messages. JSON
    text is read as a message object when it is an object with the role or content key, and refused when
    it is a list of objects (several messages); any other text is the answer as it is ("[1, 2]")."""
    value = cell
    if isinstance(cell, str) and cell.lstrip().startswith(("{", "[")):
        try:
            parsed = json_text.loads(cell)
        except (json.JSONDecodeError, TooDeeplyNested):
            parsed = None
        if (isinstance(parsed, dict) and (role_key in parsed or content_key in parsed)) or (
                isinstance(parsed, list) and parsed and all(isinstance(m, dict) for m in parsed)):
            value = parsed
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ("missing_response", (f"{where}: empty; expected the final assistant answer "
                                          f"(a text, or a message object with a {role_key!r} key)"))
    if isinstance(value, dict) and role_key not in value:
        return None, ("invalid_response", (f"{where}: a message object needs a {role_key!r} key "
                                          f"(the input's columns.role_key)"))
    if not isinstance(value, (str, dict)):
        what = "a list of messages" if isinstance(value, list) else f"a {type(value).__name__}"
        return None, ("invalid_response", f"{where}: expected a text or one message object, got {what}")
    return value, None
