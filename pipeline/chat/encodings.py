"""tiktoken encodings that work offline: find or provision the BPE file, then let tiktoken load it.

tiktoken reads `<cache dir>/<sha1(url)>` (tiktoken/load.py `read_file_cached`) from TIKTOKEN_CACHE_DIR
and downloads it when missing, checking the sha256 that tiktoken_ext/openai_public.py passes as
`expected_hash`. Its download has no timeout, so on a machine without internet it can hang or fail.

`ensure_encoding(name)` makes the load local and deterministic, in this order:
1. TIKTOKEN_CACHE_DIR is set to a folder holding the file with the right sha256 -> use it as is;
2. the project cache (`.cache/tiktoken/` in the working directory) holds it -> point
   TIKTOKEN_CACHE_DIR there for this process (child processes inherit it);
3. provision it there from the `bpe-openai` wheel (a dependency, so present wherever the package
   registry was reachable at install time): it ships `bpe_openai/data/<name>.tiktoken.gz`, which is
   decompressed and verified against the same sha256 tiktoken expects;
4. download it (30 s timeout, proxies from the environment), verified the same way;
5. otherwise raise EncodingUnavailable saying exactly which file to put where.
The wheel comes before the network on purpose: it is the same verified bytes, with no wait.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

ENV = "TIKTOKEN_CACHE_DIR"
PROJECT_CACHE = Path(".cache") / "tiktoken"
DOWNLOAD_TIMEOUT = 30


@dataclass(frozen=True)
class EncodingFile:
    name: str
    url: str     # the URL tiktoken_ext/openai_public.py loads; the cache file name is sha1(url)
    sha256: str  # the expected_hash it passes to load_tiktoken_bpe

    @property
    def cache_name(self) -> str:
        return hashlib.sha1(self.url.encode()).hexdigest()


_BASE = "https://openaipublic.blob.core.windows.net/encodings/"
FILES = {
    "o200k_base": EncodingFile("o200k_base", _BASE + "o200k_base.tiktoken",
                               "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": EncodingFile("cl100k_base", _BASE + "cl100k_base.tiktoken",
                                "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}


class EncodingUnavailable(UserError):
    """No verified copy of an encoding could be found, provisioned or downloaded."""


def _spec(name: str) -> EncodingFile:
    if name not in FILES:
        raise UserError(f"encoding {name!r} is not supported; use one of: {', '.join(FILES)}")
    return FILES[name]


def has_valid_file(directory: str | Path | None, name: str) -> bool:
    if not directory:
        return False
    path = Path(directory) / _spec(name).cache_name
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == _spec(name).sha256


def wheel_source(name: str) -> Path | None:
    """The gzipped encoding shipped in the installed bpe-openai wheel, if any (found without importing
    the package, whose import loads its tokenizers)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
    return path if path.is_file() else None


def _write_verified(data: bytes, spec: EncodingFile, directory: Path, origin: str) -> Path:
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise EncodingUnavailable(
            f"{origin}: sha256 mismatch for {spec.name} (got {actual}, tiktoken expects {spec.sha256}); "
            f"the copy is corrupted or a different version. {how_to_fix(spec, directory)}")
    target = directory / spec.cache_name
    tmp = directory / f"{spec.cache_name}.{uuid.uuid4().hex}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: parallel workers never see half a file
    except OSError as e:
        if tmp.is_file():
            tmp.unlink()
        raise EncodingUnavailable(f"cannot write {target} ({e.strerror or e}). {how_to_fix(spec, directory)}") from None
    return target


def provision_from_wheel(name: str, directory: Path, source: Path | None = None) -> Path:
    """Decompress the bpe-openai copy (or `source`, a .tiktoken.gz) into `directory`, verified."""
    spec = _spec(name)
    source = source or wheel_source(name)
    if source is None:
        raise EncodingUnavailable(f"the bpe-openai package (which ships {name}) is not installed. "
                                  f"{how_to_fix(spec, directory)}")
    try:
        data = gzip.decompress(source.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise EncodingUnavailable(f"{source}: cannot decompress ({e}). {how_to_fix(spec, directory)}") from None
    return _write_verified(data, spec, directory, str(source))


def download(name: str, directory: Path) -> Path:
    spec = _spec(name)
    try:
        with urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read()
    except OSError as e:  # URLError, timeouts, refused proxies
        raise EncodingUnavailable(f"downloading {spec.url} failed ({e}). {how_to_fix(spec, directory)}") from None
    return _write_verified(data, spec, directory, spec.url)


def how_to_fix(spec: EncodingFile, directory: Path) -> str:
    return (f"To fix: on a machine with internet, download {spec.url} and put it in {directory.resolve()} "
            f"as {spec.cache_name} (sha256 {spec.sha256}); or set TIKTOKEN_CACHE_DIR to a folder that "
            f"holds it under that name; or reinstall the bpe-openai package "
            f"(pip install --force-reinstall bpe-openai).")


def ensure_encoding(name: str, project_cache: Path = PROJECT_CACHE) -> str:
    """Make `tiktoken.get_encoding(name)` load without network (TIKTOKEN_CACHE_DIR then points at a
    folder holding the verified file). Returns how: "found", "provisioned from bpe-openai" or "downloaded"."""
    if has_valid_file(os.environ.get(ENV), name):
        return "found"
    project_cache = Path(project_cache)
    how = "found"
    if not has_valid_file(project_cache, name):
        failures = []
        for how, attempt in (("provisioned from bpe-openai", provision_from_wheel), ("downloaded", download)):
            try:
                attempt(name, project_cache)
                break
            except EncodingUnavailable as e:
                failures.append(str(e).split(" To fix:")[0].rstrip("."))
        else:
            raise EncodingUnavailable(
                f"cannot load the tiktoken encoding {name}: TIKTOKEN_CACHE_DIR ({os.environ.get(ENV) or 'not set'}) "
                f"does not hold it, and " + "; ".join(failures) + ". " + how_to_fix(_spec(name), project_cache))
    os.environ[ENV] = str(project_cache.resolve())  # inherited by worker processes
    return how


def get_encoding(name: str, project_cache: Path = PROJECT_CACHE):
    """tiktoken's Encoding `name`, provisioned offline when needed (see the module docstring)."""
    import tiktoken

    ensure_encoding(name, project_cache)
    return tiktoken.get_encoding(name)
