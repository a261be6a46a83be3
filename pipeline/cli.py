"""Command line: `python -m pipeline prepare|check-config` (also installed as `chatprep`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

from pipeline.config_loader import load_config
from pipeline.errors import UserError

EXIT_OK, EXIT_NOT_READY, EXIT_USER_ERROR, EXIT_INTERNAL_ERROR = 0, 1, 2, 3

MAIN_HELP = """\
Turn raw conversation logs (CSV, Parquet, JSONL, JSON) into chat fine-tuning files for where you train:
OpenAI (no new jobs after 2027-01-06), Azure OpenAI, Fireworks, Together, Vertex AI Gemini, Bedrock Nova and
open-weights trainers (TRL, axolotl, LLaMA-Factory) — `target: {provider, model}` in the config, or
`targets: [...]` for several at once (one folder each). `chatprep targets` lists them.

A run reads the inputs named in a YAML config, converts them to chat examples, runs the configured
stages (validate, dedup, language, tokens, moderation, split, ...) and writes into the output folder:
  train.jsonl, validation.jsonl   exactly the destination's format, ready to upload
  provenance.jsonl                source file + rows of every exported line
  rejects.jsonl                   every dropped example or unreadable row, with stage and reason
  stats.json, manifest.json       counts that add up (rows in = exported + rejected), inputs, versions
  report.html                     what was kept, what was dropped and why
"""

EXAMPLES = """\
examples:
  chatprep prepare --config configs/default.yaml
  chatprep prepare --config configs/default.yaml --out out/try2 --set stages.split.validation_fraction=0.2
  chatprep check-config configs/default.yaml
  chatprep prepare --config configs/default.yaml --set target.provider=together
  chatprep targets                      # where you can train: models, limits, prices, deadlines, sources

exit codes: 0 the run finished (the summary and report.html give the verdict), 1 the run finished but an
error-level problem blocks the upload (e.g. fewer than 10 training examples), 2 bad input or config,
3 an internal error (a bug in chatprep: the message names the log file holding the traceback)
"""


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="chatprep", description=MAIN_HELP, epilog=EXAMPLES, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    prep = sub.add_parser("prepare", help="run the pipeline and write the output files", formatter_class=fmt,
                          description=MAIN_HELP, epilog=EXAMPLES)
    prep.add_argument("--config", "-c", required=True, metavar="PATH", help="YAML config, e.g. configs/default.yaml")
    prep.add_argument("--out", "-o", metavar="DIR", help="output folder (default: output.dir in the config, 'out')")
    prep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                      help="override a config value; repeatable. Lists by index (inputs[0].path=...) and stages "
                           "by name (stages.split.seed=7). The value is read as YAML.")
    prep.add_argument("--quiet", "-q", action="store_true", help="print only the final summary")
    chk = sub.add_parser("check-config", help="validate a config without running anything", formatter_class=fmt,
                         description="Validate a config without running: keys, values, stage order, that every "
                                     "input file exists and is readable, and that the columns the config maps are in "
                                     "it (read from each file's header or schema, not the whole file).")
    chk.add_argument("config", metavar="PATH")
    chk.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    tgt = sub.add_parser("targets", help="list the destinations: models, limits, prices, deadlines, sources",
                         formatter_class=fmt, description="Every place chatprep writes files for (`target.provider`), "
                         "with its default and known models, per-example token limits, file rules, price and "
                         "deadlines; each fact names its source and the date it was read.")
    tgt.add_argument("provider", nargs="?", help="show only this provider")
    return p


def list_targets(provider: str | None) -> int:
    from pipeline.targets import provider_modules
    from pipeline.targets.listing import render_targets

    try:
        print(render_targets(provider))
    except BrokenPipeError:  # `chatprep targets | head`
        sys.stderr.close()
    except KeyError:
        print(f"error: unknown provider {provider!r}; known: {', '.join(provider_modules())}", file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "targets":
        return list_targets(args.provider)
    config = None
    try:
        config = load_config(args.config, args.overrides)
        if args.command == "check-config":
            return check_config(args.config, config)
        from pipeline.runner import run_pipeline

        result = run_pipeline(config, args.config, Path(args.out) if args.out else None, quiet=args.quiet)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: outputs from earlier runs were left untouched", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 — a bug: a short message here, the traceback in a log file
        log = write_error_log(Path(config.cache.dir) if config else Path(".cache"))
        print(f"internal error ({type(e).__name__}: {e}); this is a bug in chatprep, not in your data. "
              f"The traceback is in {log}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    print(summary(result.stats, result.out_dir))
    return EXIT_NOT_READY if any(p.level == "error" for p in result.problems) else EXIT_OK


def write_error_log(cache_dir: Path) -> Path:
    """The current exception's traceback in <cache>/logs/<UTC time>-<pid>.log (or the temp folder when
    the cache folder cannot be written)."""
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.log"
    for folder in (cache_dir / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(traceback.format_exc())
            return folder / name
        except OSError:
            continue
    return Path("(no log written: neither the cache folder nor the temp folder is writable)")


def check_config(config_path: str, config) -> int:
    """Print what a run would say about the config and its input files' columns (read cheaply)."""
    from pipeline.ingest.peek import check_inputs

    report = check_inputs(config)
    for note in report.notes:
        print(f"note: {note}")
    if report.problems:
        raise UserError("\n".join(report.problems))
    print(f"{config_path}: OK — {len(config.inputs)} input(s), {len(report.files)} file(s) "
          f"({report.checked} with their columns checked), stages: {' → '.join(s.name for s in config.stages)}")
    return EXIT_OK


def summary(stats: dict, out_dir: Path) -> str:
    rows, ex = stats["rows"], stats["examples"]
    lines = [
        f"rows read: {rows['input']:,}  →  exported {rows['exported']:,}, rejected {rows['rejected']:,}",
        (f"examples: built {ex['built']:,}  →  train {ex['train']:,}, validation {ex['validation']:,}, "
         f"rejected {ex['rejected']:,}"),
        "per step (in → out, seconds):",
    ]
    for s in stats["stages"]:
        drops = ", ".join(f"{r} {n}" for r, n in s["dropped"].items())
        cached = " (checkpoint)" if s.get("cached") else ""
        lines.append(f"  {s['name']:<12} {s['in']:>9,} → {s['out']:<9,} {s['seconds']:>7.2f}s{cached}"
                     + (f"  dropped: {drops}" if drops else ""))
    for p in stats["problems"]:
        lines.append(textwrap.fill(f"{p['level'].upper()}: {p['message']}", 110, subsequent_indent="  "))
    v = stats.get("verdict") or {}
    where = f" to {v['target_names']}" if v.get("target_names") else ""
    if v.get("ready"):
        lines.append(f"verdict: READY to upload{where}" + (f" ({len(v['warnings'])} warning(s) in the report)"
                                                            if v.get("warnings") else ""))
    elif v:
        lines.append(f"verdict: NOT READY to upload{where} — " + "; ".join(b["code"] for b in v["blocking"])
                     + " (details in report.html)")
    return "\n".join(lines + target_lines(stats, out_dir))


def target_lines(stats: dict, out_dir: Path) -> list[str]:
    """Where the files are: one line per target (examples, folder, exact or estimated tokens, cost)."""
    from pipeline.report.targets import console_line, target_entries

    entries = target_entries(stats)
    if len(entries) <= 1:
        head = [(f"outputs in {out_dir}/: train.jsonl validation.jsonl provenance.jsonl rejects.jsonl "
                 "stats.json manifest.json report.html")]
    else:
        head = [(f"outputs in {out_dir}/: stats.json manifest.json report.html, and one folder per target "
                 "(train, validation, provenance, rejects, stats):")]
    return head + [("  " if len(entries) > 1 else "") + console_line(t, out_dir, len(entries) > 1)
                   for t in entries]


if __name__ == "__main__":
    sys.exit(main())
