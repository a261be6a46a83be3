"""Masking secrets before anything is written: values under secret-looking keys, and secret-looking
strings (API keys) anywhere. Used for the manifest's config and the report's run facts."""

from __future__ import annotations

import re

_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|token$|authorization|credential)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,})")


def masked(obj):
    """A copy of `obj` with secrets replaced by '***'."""
    if isinstance(obj, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEY.search(k) and isinstance(v, str) and v
                    else masked(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [masked(v) for v in obj]
    if isinstance(obj, str):
        return _SECRET_VALUE.sub("***", obj)
    return obj
