"""Run once by `make setup` after installing: provisions what the pipeline needs offline.

Today that is the tiktoken encodings (see pipeline/encodings.py): verified copies of o200k_base and
cl100k_base in TIKTOKEN_CACHE_DIR or the project cache `.cache/tiktoken/`. Fast when already done
(a sha256 of two files). Prints one line; exit code 1 with what to do when it cannot.
"""

from __future__ import annotations

import os
import sys

from pipeline.chat.encodings import ENV, FILES, EncodingUnavailable, ensure_encoding


def main() -> int:
    done = []
    try:
        for name in FILES:
            done.append(f"{name} ({ensure_encoding(name)})")
    except EncodingUnavailable as e:
        print(f"setup: {e}", file=sys.stderr)
        return 1
    print(f"setup: tiktoken encodings {', '.join(done)} in {os.environ[ENV]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
