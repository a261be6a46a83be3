"""JSON text parsed with a clear error for nesting deeper than Python's parser can follow (100k `[` in a
cell, a line or a file): `TooDeeplyNested` instead of a RecursionError traceback."""

from __future__ import annotations

import json


class TooDeeplyNested(ValueError):
    """JSON nested deeper than the parser's recursion limit."""

    def __init__(self):
        super().__init__("JSON nested too deeply to read (thousands of levels of [ or {)")


def loads(text: str):
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeeplyNested from None

