"""Run once by `make setup` after installing: provisions what the pipeline needs offline."""

from __future__ import annotations

import sys


def main() -> int:
    return 0


if __name__ == "__main__":
    sys.exit(main())
