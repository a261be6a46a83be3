"""The fake moderation server's scores: realistic per-category scores for any text.

A text from ../shared/realdata/openai-moderation/samples-1680.jsonl gets scores from OpenAI's own labels
(0.55-0.99 where labelled 1, near 0 where labelled 0; sub-categories of a parent labelled 0 stay near 0),
any other text those of a small keyword model (each matching pattern adds its weight), plus a little
deterministic noise everywhere. A category is flagged at FLAG_AT. Used by tests/fake_moderation_server.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
LABELS = {"S": "sexual", "H": "hate", "V": "violence", "HR": "harassment", "SH": "self-harm",
          "S3": "sexual/minors", "H2": "hate/threatening", "V2": "violence/graphic"}
PARENT = {"harassment/threatening": "harassment", "hate/threatening": "hate", "self-harm/intent": "self-harm",
          "self-harm/instructions": "self-harm", "sexual/minors": "sexual", "violence/graphic": "violence",
          "illicit/violent": "illicit"}
FLAG_AT = 0.5
REALDATA_SAMPLES = (Path(os.environ.get("CHATPREP_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
                    / "realdata" / "openai-moderation" / "samples-1680.jsonl")

# keyword model: (category, pattern, weight); a text's score combines the weights of every match
_I_WILL = r"\b(i(?:'ll| will| am going to|'m going to|'m gonna| am gonna| want to| wanna)|we(?:'ll| will))"
_KEYWORDS = [
    ("self-harm", r"\b(kill|hurt|harm|cut|end)(?:ing)? (myself|my life|it all)\b", 0.9),
    ("self-harm", (r"\b(don't|do not|dont) want to (be alive|live anymore|wake up)\b|\bwant to die\b|"
                  r"\bno reason to (live|go on)\b|\bbetter off dead\b"), 0.85),
    ("self-harm", r"\bsuicid\w*|\bself[- ]harm\w*|\boverdose\b", 0.45),
    ("self-harm/intent", _I_WILL + r" (kill|hurt|harm|cut|end) (myself|my life|it all)\b", 0.9),
    ("self-harm/intent", (r"\b(i am|i'm|im) (going to|gonna) (die|end it)\b|\bwant to die\b|"
                         r"\b(don't|do not|dont) want to (be alive|live anymore)\b"), 0.75),
    ("self-harm/instructions", (r"\bhow (to|do i|can i) (kill|hurt|cut|harm) (myself|yourself)\b|"
                               r"\bpainless (way|method)\b"), 0.85),
    ("violence", r"\b(kill|murder|stab|shoot|strangle|beat up|punch|smash|attack|hurt)\w*\b", 0.4),
    ("violence", (r"\b(is|are|will|gonna|going to) (get|be) (hurt|killed|shot)\b|\bsmash (the place|it|everything)"
                 r" up\b|\b(bomb|explosive|blow (it|this|the \w+) up|burn (it|this|the \w+|your \w+) down)\b"), 0.8),
    ("violence/graphic", r"\b(blood(y|ied)?|gore|dismember\w*|guts|mutilat\w*|corpse)\b", 0.6),
    ("harassment", (r"\b(you|you're|you are|you people are|such an?|what an?)\s+(\w+\s+)?(idiots?|morons?|stupid|"
                   r"useless|worthless|pathetic|scum|losers?|incompetent|clowns?)\b"), 0.6),
    ("harassment", r"\b(idiot|moron|scum|loser)s?\b", 0.45),
    ("harassment", r"\bshut up\b|\bf\W?u\W?c\W?k\w*\b|\bbitch\w*|\bbastard\w*|\basshole\w*", 0.6),
    ("harassment/threatening", _I_WILL + r" (kill|hurt|find|beat|destroy|burn|shoot|stab|come for|get) "
                               r"(you|him|her|them|your|every)", 0.85),
    ("harassment/threatening", (r"\byou(?:'ll| will) (regret|pay for) (this|it)\b|\bmake you regret\b|"
                               r"\bwatch your back\b|\bi know where (you|your [\w ]{1,20}) (live|work|is|are)\b|"
                               r"\bsee what happens to\b|\bwhoever is [\w ]{1,30} (is|will) (going to )?get hurt\b"),
     0.75),
    ("hate", r"\b(all|those|these) \w+ (people|immigrants|foreigners) (are|should)\b|\b(inferior|subhuman) race\b",
     0.6),
    ("hate/threatening", r"\b(exterminate|wipe out|get rid of) (all|every|the) \w+ (people|immigrants)\b", 0.8),
    ("sexual", r"\b(sex|sexual|sexy|nude|naked|porn\w*|orgasm|erotic|horny)\b", 0.6),
    ("sexual/minors", r"\b(sex|sexual|nude|naked)\b.*\b(child|minor|underage|kid|\d{1,2}[- ]year[- ]old)\b", 0.8),
    ("illicit", (r"\bhow (do i|to|can i|would i) (steal|hack|shoplift|launder|forge|pick a lock)\b|"
                r"\b(make|cook|buy|sell) (meth|crack|cocaine|heroin|drugs|counterfeit \w+|fake (ids?|money|passports?))\b|"
                r"\bransomware\b"), 0.6),
    ("illicit/violent", r"\bhow (do i|to|can i) (make|build|get) (a |an )?(bomb|gun|weapon|explosive)\w*", 0.85),
]
_COMPILED = [(c, re.compile(p, re.IGNORECASE), w) for c, p, w in _KEYWORDS]


def _unit(text: str, salt: str) -> float:
    """A deterministic number in [0, 1) from a text (stable across runs and processes)."""
    digest = hashlib.blake2b(f"{salt}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class ScoreModel:
    """Scores per category: OpenAI's labels for known prompts, keywords otherwise, small noise everywhere."""

    def __init__(self, samples: Path | None = REALDATA_SAMPLES):
        self.known: dict[str, dict[str, int]] = {}
        if samples is not None and Path(samples).is_file():
            for line in Path(samples).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.known[sha256_hex(row.pop("prompt"))] = row  # conflicting duplicates: the last one wins

    def scores(self, text: str) -> dict[str, float]:
        hits: dict[str, float] = {}
        for cat, rx, w in _COMPILED:
            if rx.search(text):
                hits[cat] = 1 - (1 - hits.get(cat, 0.0)) * (1 - w)
        labels = self.known.get(sha256_hex(text))
        out = {}
        for cat in CATEGORIES:
            noise = 1e-6 + 4e-3 * _unit(text, cat) ** 3
            score = max(noise, hits.get(cat, 0.0) * (0.9 + 0.1 * _unit(text, "k" + cat)))
            code = next((k for k, v in LABELS.items() if v == cat), None)
            parent_code = next((k for k, v in LABELS.items() if v == PARENT.get(cat)), None)
            if labels and code in labels:
                score = 0.55 + 0.44 * _unit(text, "l" + cat) if labels[code] else min(score, 0.02 + 0.2 * noise)
            elif labels and parent_code in labels and not labels[parent_code]:
                score = min(score, 0.02 + 0.2 * noise)
            out[cat] = round(score, 6)
        return out


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
