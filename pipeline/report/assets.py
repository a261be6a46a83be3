"""What the page inlines: the stylesheet, our script, the vendored chart library, and data for the script.

Everything is inlined so the report is one file that works offline. The page's Content-Security-Policy
allows exactly the inline scripts it was rendered with (`script_hash` of each; no 'unsafe-inline'), so a
script element that an escaping slip let into the page would not run. Data for the script goes into a
`<script type="application/json">` block read with JSON.parse; `json_for_script` escapes `<`, `>`, `&`
and U+2028/2029 so no user text can end the block or be read as markup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path

from markupsafe import Markup

HERE = Path(__file__).parent
_UNSAFE_IN_SCRIPT = re.compile(r"</script|<!--|<script", re.IGNORECASE)
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


def json_for_script(obj) -> Markup:
    """JSON text safe inside <script type="application/json">: nothing in it can close or open a tag."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return Markup(_JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], text))


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script: 'sha256-<base64 of the UTF-8 text's digest>'."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _checked_script(text: str, name: str) -> Markup:
    if _UNSAFE_IN_SCRIPT.search(text):
        raise ValueError(f"{name} contains text that would break out of an inline <script> element")
    return Markup(text)


@cache
def chart_library() -> Markup:
    text = (HERE / "vendor" / "chart.umd.min.js").read_text(encoding="utf-8")
    text = re.sub(r"\n//# sourceMappingURL=\S*\s*$", "\n", text)
    return _checked_script(text, "vendor/chart.umd.min.js")


@cache
def report_script() -> Markup:
    return _checked_script((HERE / "templates" / "report.js").read_text(encoding="utf-8"), "templates/report.js")


@cache
def report_style() -> Markup:
    text = (HERE / "templates" / "report.css").read_text(encoding="utf-8")
    if re.search(r"</style", text, re.IGNORECASE):
        raise ValueError("templates/report.css contains '</style'")
    return Markup(text)
