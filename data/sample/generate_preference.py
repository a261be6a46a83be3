#!/usr/bin/env python3
"""Generate chatprep's small *raw* preference (DPO) sample: rated replies and edited drafts.

Run from the repository root:

    .venv/bin/python data/sample/generate_preference.py [--out DIR]

Deterministic: one ``random.Random(20261207)`` drives every choice; only the stdlib is used (the files are
CSV and JSON Lines). The texts are in preference_texts.py, written for this project (fictional company
"Northwind Mobile", as in generate.py); all personal data is fake (an example.com e-mail, an Ofcom drama
phone number). `configs/preference.yaml` runs both files (`make prepare-preference`).

Outputs (next to this file, or in --out):

* ``rated_replies.csv``     -- layout preference_ratings: prompt_id, channel, context (the prompt as a JSON
                               list of messages ending on the customer's turn), reply, rating (1-5)
* ``agent_edits.jsonl``     -- layout preference_edits: id, context (list of messages), model_draft, sent_reply
* ``README_preference.md``  -- what is in them and what is planted (generated; the checks below verify it)

PLANTED (ids fixed by the constants below; `check` verifies each against the written rows)
=========================================================================================
rated_replies.csv
  a tie (three replies, all rated 4): rate-011  -> every row unpaired_reply
  a prompt with a single reply: rate-022        -> single_reply
  two identical replies rated 5 and 2: rate-033 -> both rows unpaired_reply (the same text)
  fake PII (e-mail + phone) in the reply rated 1 of rate-028 (the double direct debit) -> redacted in the
      rejected reply written to every destination
  a German prompt with German replies: rate-044
  near-duplicate prompts: rate-066 is rate-006 with "supposed" -> "meant" and "??", same replies and ratings
      -> dedup drops rate-066's pairs (near_duplicate)
  length bias: in most prompts the best-rated reply is the longest; in the CONCISE_BEST prompts it is the
      shortest and a rambling reply is the worst. Still far more than 70 % of the pairs have the longer reply
      chosen -> warning preference_length_bias
agent_edits.jsonl
  drafts sent as they are: edit-031 .. edit-035      -> identical_pair (accepted as is)
  drafts with a cosmetic fix only: edit-036 .. edit-040 -> trivial_edit (below min_edit 0.05)
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import preference_texts as texts  # the texts beside this script (sys.path above)

SEED = 20261207
SYSTEM = "You are Northwind Mobile's support assistant. Answer in the customer's language."
CHANNELS = ["chat", "app", "email"]

# where the planted prompts go among the scenarios (prompt numbers, 1-based)
AT_TIE, AT_SINGLE, AT_IDENTICAL, AT_GERMAN, AT_NEAR_COPY = 11, 22, 33, 44, 66
N_EDITED, N_ACCEPTED = 30, 5  # edits rows: edited, then accepted as is, then trivially fixed


def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def context(question: str, before: list[str] | None, system: bool) -> list[dict]:
    turns = [message("system", SYSTEM)] if system else []
    if before:
        turns += [message("user", before[0]), message("assistant", before[1])]
    return turns + [message("user", question)]


def scenario_replies(rng: random.Random, scenario: tuple) -> list[tuple[str, int]]:
    """Best, middling and 0-3 poor replies with their ratings (best > middling > poor)."""
    question, best, mid = scenario[:3]
    best_score = 5 if rng.random() < 0.7 else 4
    mid_score = rng.choice([3, 4]) if best_score == 5 else 3
    replies = [(best, best_score), (mid, mid_score)]
    if question == texts.PII_QUESTION:
        return replies + [(texts.PII_REPLY, 1)]
    if question in texts.CONCISE_BEST:  # the rambling reply is the worst: a pair whose shorter reply is chosen
        return replies
    poor = rng.sample(texts.POOR, rng.choice([0, 1, 1, 2, 3]))
    return replies + [(p, rng.choice([1, 1, 2])) for p in poor]


def rated_groups(rng: random.Random) -> list[dict]:
    """The prompts in file order: {id, channel, context, replies: [(text, rating), ...] in row order}."""
    groups, scenarios = [], iter(texts.SCENARIOS)
    by_question = {}
    n = 0
    while True:
        n += 1
        channel = rng.choice(CHANNELS)
        system = channel == "app"
        if n == AT_TIE:
            q, replies = texts.TIE[0], [(r, 4) for r in texts.TIE[1]]
        elif n == AT_SINGLE:
            q, replies = texts.SINGLE[0], [(texts.SINGLE[1], 5)]
        elif n == AT_IDENTICAL:
            q, replies = texts.IDENTICAL[0], [(texts.IDENTICAL[1], 5), (texts.IDENTICAL[1], 2)]
        elif n == AT_GERMAN:
            q, replies = texts.GERMAN[0], list(zip(texts.GERMAN[1], texts.GERMAN[2], strict=True))
        elif n == AT_NEAR_COPY:
            source = by_question[texts.NEAR_SOURCE]
            groups.append({**source, "id": f"rate-{n:03d}",
                           "context": source["context"][:-1] + [message("user", texts.NEAR_COPY)]})
            continue
        else:
            scenario = next(scenarios, None)
            if scenario is None:
                return groups
            q = scenario[0]
            replies = scenario_replies(rng, scenario)
            rng.shuffle(replies)
            groups.append({"id": f"rate-{n:03d}", "channel": channel,
                           "context": context(q, scenario[3] if len(scenario) > 3 else None, system),
                           "replies": replies})
            by_question[q] = groups[-1]
            continue
        groups.append({"id": f"rate-{n:03d}", "channel": channel, "context": context(q, None, system),
                       "replies": replies})


def ratings_csv(groups: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prompt_id", "channel", "context", "reply", "rating"])
    for g in groups:
        prompt = json.dumps(g["context"], ensure_ascii=False)
        for reply, rating in g["replies"]:
            writer.writerow([g["id"], g["channel"], prompt, reply, rating])
    return buf.getvalue()


def cosmetic(draft: str) -> str:
    """The draft with its one TRIVIAL_FIXES edit applied."""
    fix = next(k for k in texts.TRIVIAL_FIXES if k in draft)
    return draft.replace(fix, texts.TRIVIAL_FIXES[fix], 1)


def edit_share(a: str, b: str) -> float:
    """Characters changed along difflib's alignment over the longer text (the layout's min_edit measure)."""
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
    return changed / max(len(a), len(b), 1)


def edit_rows(rng: random.Random) -> list[dict]:
    rows = []
    for i, (question, draft, sent) in enumerate(texts.EDITS, start=1):
        before = ["Hi, quick question about my account.", "Hi! Of course, what would you like to know?"] \
            if rng.random() < 0.25 else None
        if sent is None:
            sent = draft if i <= N_EDITED + N_ACCEPTED else cosmetic(draft)
        rows.append({"id": f"edit-{i:03d}", "context": context(question, before, False),
                     "model_draft": draft, "sent_reply": sent})
    return rows


def edits_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def planted(groups: list[dict], edits: list[dict]) -> dict:
    """Every planted case, found in the rows themselves (the README lists these)."""
    by_id = {g["id"]: g for g in groups}
    last_user = {g["id"]: g["context"][-1]["content"] for g in groups}
    pii = next(g["id"] for g in groups if any(r == texts.PII_REPLY for r, _ in g["replies"]))
    biased = [g for g in groups if len(g["replies"]) > 1 and len({s for _, s in g["replies"]}) > 1]
    longest_best = [g for g in biased if max(g["replies"], key=lambda r: (r[1], len(r[0])))[0]
                    == max(g["replies"], key=lambda r: len(r[0]))[0]]
    return {
        "tie": [g["id"] for g in groups if len(g["replies"]) > 1 and len({s for _, s in g["replies"]}) == 1],
        "single": [g["id"] for g in groups if len(g["replies"]) == 1],
        "identical": [g["id"] for g in groups if len({r for r, _ in g["replies"]}) < len(g["replies"])],
        "pii": pii,
        "german": [g["id"] for g in groups if last_user[g["id"]] == texts.GERMAN[0]],
        "near": [(g["id"], s["id"]) for g in groups for s in groups
                 if last_user[g["id"]] == texts.NEAR_COPY and last_user[s["id"]] == texts.NEAR_SOURCE
                 and by_id[g["id"]]["replies"] == s["replies"]],
        "longest_best": (len(longest_best), len(biased)),
        "accepted": [r["id"] for r in edits if r["model_draft"] == r["sent_reply"]],
        "trivial": [r["id"] for r in edits if r["model_draft"] != r["sent_reply"]
                    and edit_share(r["model_draft"], r["sent_reply"]) < 0.05],
    }


def check(found: dict, groups: list[dict], edits: list[dict]) -> None:
    """The planted cases are where the docstring and README say, and nothing else looks like one."""
    expect = {"tie": [f"rate-{AT_TIE:03d}"], "single": [f"rate-{AT_SINGLE:03d}"],
              "identical": [f"rate-{AT_IDENTICAL:03d}"], "german": [f"rate-{AT_GERMAN:03d}"], "pii": "rate-028",
              "near": [(f"rate-{AT_NEAR_COPY:03d}", "rate-006")],
              "accepted": [f"edit-{i:03d}" for i in range(N_EDITED + 1, N_EDITED + N_ACCEPTED + 1)],
              "trivial": [f"edit-{i:03d}" for i in range(N_EDITED + N_ACCEPTED + 1, len(edits) + 1)]}
    for key, want in expect.items():
        if found[key] != want:
            raise SystemExit(f"planted {key}: found {found[key]}, expected {want}")
    longest, of = found["longest_best"]
    if longest / of < 0.85:
        raise SystemExit(f"length bias too weak: the best reply is the longest in {longest} of {of} prompts")
    if not all(2 <= len(g["replies"]) <= 5 for g in groups if g["id"] != expect["single"][0]):
        raise SystemExit("every prompt but the single one must have 2-5 replies")


def readme(groups: list[dict], edits: list[dict], found: dict, sizes: dict[str, int]) -> str:
    rows = sum(len(g["replies"]) for g in groups)
    counts = {k: sum(1 for g in groups if len(g["replies"]) == k) for k in range(1, 6)}
    multi = sum(1 for g in groups if any(m["role"] == "assistant" for m in g["context"]))
    longest, of = found["longest_best"]
    edited = len(edits) - len(found["accepted"]) - len(found["trivial"])
    near_copy, near_source = found["near"][0]
    return f"""# data/sample: preference (DPO) sample

Generated by `generate_preference.py` (run `.venv/bin/python data/sample/generate_preference.py` from the repo
root; deterministic, seed `{SEED}`, stdlib only; the texts are in `preference_texts.py`). **Do not edit the data
files or this README by hand**; change the generator or the texts and re-run it
(`tests/test_preference_sample.py` checks that the committed files are what it writes). All text was written
for this project: the company ("Northwind Mobile") is fictional and all personal data is fake.

`configs/preference.yaml` turns both files into DPO files for six destinations: `make prepare-preference`
(output in `out/preference/`).

## Files

| file | layout | content | size |
|---|---|---|---|
| `rated_replies.csv` | `preference_ratings` | `prompt_id, channel, context, reply, rating`: {len(groups)} prompts, {rows} rated replies | {sizes['rated_replies.csv']:,} bytes |
| `agent_edits.jsonl` | `preference_edits` | `id, context, model_draft, sent_reply`: {len(edits)} drafts | {sizes['agent_edits.jsonl']:,} bytes |

* `context` is the prompt: a list of `{{role, content}}` messages ending on the customer's turn (a JSON text in
  the CSV). Prompts of the `app` channel start with a system message; {multi} rated prompts carry an earlier
  customer/agent exchange before the question.
* `rating` is 1 (worst) to 5 (best). Replies per prompt: {', '.join(f'{k}: {n}' for k, n in counts.items() if n)}.
  Within a prompt the rows are in random order.
* `sent_reply` is what the agent actually sent after editing the model's `model_draft`: the chosen side.

## Planted cases and where they end up (configs/preference.yaml)

| case | where | outcome |
|---|---|---|
| a tie: three replies, all rated 4 | `{found['tie'][0]}` | each row rejected at convert as `unpaired_reply` (ties with every other reply) |
| a prompt with a single reply | `{found['single'][0]}` | rejected at convert as `single_reply` |
| two identical replies rated 5 and 2 | `{found['identical'][0]}` | both rows rejected at convert as `unpaired_reply` (the same text) |
| fake PII in a low-rated reply (`billing.sam.porter@example.com`, `+44 20 7946 0958`) | `{found['pii']}`, the reply rated 1 | pii redacts it to `[EMAIL]` / `[PHONE]` in the rejected reply of every pair written |
| a German prompt with German replies | `{found['german'][0]}` | kept (`language.allowed` has `de`); its pairs are exported |
| near-duplicate prompts ("supposed" -> "meant", "?" -> "??"; same replies and ratings) | `{near_copy}` ~ `{near_source}` | dedup keeps `{near_source}`'s pairs and drops `{near_copy}`'s as `near_duplicate` |
| length bias: the best-rated reply is the longest | {longest} of the {of} prompts with different ratings (in the others a short best reply is paired with a rambling worst one) | over 70 % of the pairs have the longer reply chosen: warning `preference_length_bias` in `stats.json` `problems` and the report |
| drafts sent as they are | {', '.join(f'`{i}`' for i in found['accepted'])} | rejected as `identical_pair` (counted as accepted as is) |
| drafts with a cosmetic fix only (a typo, a full stop) | {', '.join(f'`{i}`' for i in found['trivial'])} | rejected as `trivial_edit` (`min_edit: 0.05`) |

The other {edited} drafts were edited by the agent (a wrong fact corrected, a missing step added, an
overpromise removed) and become pairs: the sent reply over the draft.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the files into")
    out = parser.parse_args().out
    rng = random.Random(SEED)
    groups = rated_groups(rng)
    edits = edit_rows(rng)
    found = planted(groups, edits)
    check(found, groups, edits)
    files = {"rated_replies.csv": ratings_csv(groups), "agent_edits.jsonl": edits_jsonl(edits)}
    sizes = {name: len(text.encode("utf-8")) for name, text in files.items()}
    files["README_preference.md"] = readme(groups, edits, found, sizes)
    total = sum(len(text.encode("utf-8")) for text in files.values())
    if total > 150_000:
        raise SystemExit(f"the preference sample is {total:,} bytes; keep it under 150 KB")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {', '.join(files)} to {out} ({total:,} bytes)")


if __name__ == "__main__":
    main()
