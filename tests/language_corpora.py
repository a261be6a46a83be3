"""Labelled real text for the language stage, built at test (and bench) time, never committed.

- Django's translation catalogues (conf/locale/*/LC_MESSAGES/django.po and those of its contrib apps):
  the msgstr strings of each locale are text in that locale's language; English is the msgid side.
  Short UI strings ("Enter a valid email address."): the hard case for detectors. Django is in the dev
  extra for this only.
- ../shared/realdata: corpora written in one language (XDailyDialog per language, LLaMA-Factory's alpaca
  en and dpo zh demos, PersuasionForGood, the TWCS sample, Agentune's insurance calls, FastChat's dummy
  conversations), as chats of their own turns.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

# Django's locale for each language measured; the targets cover zh ja ko hi id ms vi th ar ru de es fr pt en
DJANGO_LOCALES = {"zh": "zh_Hans", "ja": "ja", "ko": "ko", "hi": "hi", "id": "id", "ms": "ms", "vi": "vi",
                  "th": "th", "ar": "ar", "ru": "ru", "de": "de", "es": "es", "fr": "fr", "pt": "pt", "en": "en"}
# alpaca tasks whose answer is in another language by design ("Translate ... into Spanish"): not
# single-language examples, so not part of the labelled set (alpaca en: 6 of 999 rows, three answered in
# es / fr; dpo zh: 6 of 300 rows, one quoting a Japanese sentence)
_TRANSLATION_TASK = re.compile(r"translat|another language|into (spanish|french|german|italian|chinese)|翻译|译成",
                               re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%\([^)]*\)[sdifr]|%[sdifr]|\{[^}]*\}|<[^>]+>|&\w+;")


def _po_strings(path: Path, want_msgid: bool) -> list[str]:
    """The translated strings of one .po file (msgid when want_msgid), fuzzy entries and headers left out."""
    out, entry, key, fuzzy = [], None, None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        if line.startswith("msgid "):
            entry = {"msgid": "", "msgstr": "", "fuzzy": fuzzy}
            out.append(entry)
            fuzzy, key, line = False, "msgid", line[6:]
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            key, line = "msgstr", line.split(" ", 1)[1]
        elif not line.startswith('"') or entry is None:
            key = None
            continue
        if key is not None:
            entry[key] += ast.literal_eval(line)
    field = "msgid" if want_msgid else "msgstr"
    return [e[field] for e in out if e["msgid"] and e[field] and not e["fuzzy"]]


def django_strings(lang: str) -> list[str]:
    """Distinct catalogue strings of `lang`, placeholders and markup removed; [] without Django."""
    try:
        import django
    except ImportError:
        return []
    root = Path(django.__file__).parent
    locale = "fr" if lang == "en" else DJANGO_LOCALES[lang]  # English: the msgids of any catalogue
    texts = []
    for path in sorted(root.glob(f"**/locale/{locale}/LC_MESSAGES/django*.po")):
        texts += [" ".join(_PLACEHOLDER.sub(" ", t).split()) for t in _po_strings(path, lang == "en")]
    return list(dict.fromkeys(t for t in texts if t))


def realdata_corpora(realdata: Path) -> dict[str, tuple[str, list[list[str]]]]:
    """name -> (language, conversations as lists of turns, user first) of the single-language real files."""
    out: dict[str, tuple[str, list[list[str]]]] = {}
    for lang in ("de", "en", "it", "zh"):
        lines = (realdata / "xdailydialog" / f"{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()
        out[f"xdailydialog-{lang}"] = (lang, [[t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()]
                                              for line in lines])
    alpaca = json.loads((realdata / "llamafactory-demo" / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    out["llamafactory-alpaca-en"] = ("en", [[f"{r['instruction']}\n{r['input']}".strip(), r["output"]] for r in alpaca
                                            if not _TRANSLATION_TASK.search(r["instruction"])])
    dpo = json.loads((realdata / "llamafactory-demo" / "dpo_zh_demo.json").read_text(encoding="utf-8"))
    out["llamafactory-dpo-zh"] = ("zh", [[c["value"] for c in r["conversations"]] + [r["chosen"]["value"]] for r in dpo
                                         if not _TRANSLATION_TASK.search(r["conversations"][0]["value"])])
    out["persuasionforgood"] = ("en", _grouped(realdata / "persuasionforgood" / "full_dialog.csv", "B2", "Unit"))
    out["agentune"] = ("en", _grouped(realdata / "agentune-insurance-calls" / "messages.csv", "conversation_id",
                                      "message"))
    with open(realdata / "twcs-sample" / "sample.csv", encoding="utf-8", newline="") as f:
        out["twcs"] = ("en", [[r["text"], r["text"]] for r in csv.DictReader(f)])
    fastchat = json.loads((realdata / "fastchat-dummy" / "dummy_conversation.json").read_text(encoding="utf-8"))
    out["fastchat"] = ("en", [[c["value"] for c in r["conversations"]] for r in fastchat])
    return out


def _grouped(path: Path, key: str, text: str) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault(row[key], []).append(row[text])
    return list(groups.values())
