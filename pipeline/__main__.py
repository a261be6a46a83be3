"""`python -m pipeline ...` — see pipeline/cli.py. The guard matters: stages use spawn-based process pools."""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
