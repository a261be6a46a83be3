"""The libraries whose behaviour shapes a run's outputs, and the installed versions of them and of Python.

One tuple for both places that record them, so they cannot drift: the manifest lists the versions
(pipeline/outputs.py) and every checkpoint key includes them (pipeline/engine/checkpoints.py), so a
checkpoint never outlives a library upgrade. Versions come from the installed package metadata: no
library is imported (a rerun from checkpoints does not pay for importing datasketch or scipy).
"""

from __future__ import annotations

import platform
from importlib import metadata

OUTPUT_LIBRARIES = (
    "polars", "polars-runtime-32", "polars-runtime-64", "polars-runtime-compat",  # the engine ships separately
    "pyarrow", "numpy", "scipy",
    "pydantic", "pandera",                    # config defaults, raw-table checks
    "ftfy",                                   # normalize
    "tiktoken",                               # tokens, windows, validate
    "tokenizers", "openai-harmony", "mistral-common",  # open-weights token counts (pipeline/chat/open_models)
    "py3langid", "langdetect",                # language
    "phonenumbers", "python-stdnum",          # pii
    "datasketch",                             # dedup
    "openai",                                 # moderation
    "jinja2", "markupsafe",                   # report.html
)


def library_versions() -> dict[str, str]:
    """{"python": ..., library: version} for each library of OUTPUT_LIBRARIES that is installed."""
    out = {"python": platform.python_version()}
    for name in OUTPUT_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
