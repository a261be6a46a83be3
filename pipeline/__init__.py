"""chatprep pipeline: raw conversations -> OpenAI chat fine-tuning files, with nothing lost."""

import os

__version__ = "0.1.0"

# polars allocates through jemalloc, which by default keeps freed pages for 10 s before giving them back:
# between two steps of a run that is memory held for nothing (at 1M conversations the main process stayed
# ~0.5 GB above what it used). Freed pages go back within a second instead (set before polars loads; the
# pool workers inherit it; a value the user set wins). bench/__main__.py measures the peaks.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:0")
