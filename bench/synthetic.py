"""Synthetic raw conversations with a realistic shape, for `make bench`.

N conversations, 2–20 turns, long-tailed message lengths (~250 tokens per conversation on average),
~10 % exact and ~5 % near duplicates, several languages, some PII, some over-long conversations.
Written as CSV (messages layout: one row per message) and Parquet (conversations layout).
Deterministic for a given (n, seed, text); files are reused when they already exist.

--text synthetic (default): messages of random words from small per-language vocabularies.
--text real: every original message is a real message from ../shared/realdata (bench/real_text.py; the pool
is built at run time, never copied into the project): real lengths, vocabulary and punctuation, the
customer side drawn from customer / user messages and the agent side from agent / assistant ones, 95 % en
and 5 % de / it / zh; the same turns, duplicates, PII and over-long conversations as the synthetic text.

    python -m bench.synthetic --n 100000 --out bench/data [--text real]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

from bench import real_text

WORDS = {
    "en": ("the order account delivery refund password please thanks help issue payment card plan phone network "
           "invoice update address cancel subscription charge store online app router signal data roaming "
           "customer agent today yesterday week month problem working again sorry check details email number "
           "could would should you we they your our my i it is was be have has will can not no yes what when"),
    "de": ("die der das und bitte danke Bestellung Lieferung Konto Rechnung Passwort Zahlung Karte Vertrag "
           "Kunde heute gestern Woche Problem wieder Entschuldigung prüfen Adresse kündigen Gebühr nicht ja "
           "wann was wir Sie ich es ist war haben wird kann Ihre unsere meine Netz Signal Daten"),
    "es": ("el la los las y por favor gracias pedido entrega cuenta factura contraseña pago tarjeta contrato "
           "cliente hoy ayer semana problema otra vez lo siento revisar dirección cancelar cargo no sí cuándo "
           "qué nosotros usted yo es era tener será puede su nuestra mi red señal datos"),
    "fr": ("le la les et merci commande livraison compte facture mot de passe paiement carte contrat client "
           "aujourd'hui hier semaine problème encore désolé vérifier adresse annuler frais non oui quand quoi "
           "nous vous je est était avoir sera peut votre notre mon réseau signal données"),
}
LANG_P = {"en": 0.85, "de": 0.06, "es": 0.06, "fr": 0.03}
REAL_LANG_P = {"en": 0.95, "de": 0.02, "it": 0.015, "zh": 0.015}
TEXTS = ("synthetic", "real")
PII = ["my email is jane.doe{0}@example.com", "call me on +1 555-01{0:02d}", "card 4111 1111 1111 1111",
       "IBAN DE89 3704 0044 0532 0130 00", "from ip 192.168.{0}.7"]


def _message(rng: np.random.Generator, vocab: list[str], n_words: int) -> str:
    words = [vocab[i] for i in rng.integers(0, len(vocab), n_words)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _near(rng: np.random.Generator, message: str) -> str:
    """One word of the message replaced (one character where the text has no spaces, e.g. Chinese)."""
    if " " not in message:
        k = int(rng.integers(0, len(message)))
        return message[:k] + "好" + message[k + 1:]
    w = message.split(" ")
    w[int(rng.integers(0, len(w)))] = "really"
    return " ".join(w)


def generate(n: int, seed: int = 7, text: str = "synthetic") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (messages frame, conversations frame) for n conversations. text="real" raises
    real_text.RealDataMissing when ../shared/realdata is absent."""
    if text not in TEXTS:
        raise ValueError(f"text must be one of {TEXTS}, not {text!r}")
    rng = np.random.default_rng(seed)
    vocab = {k: v.split() for k, v in WORDS.items()}
    pool = real_text.real_pool() if text == "real" else None
    lang_p = REAL_LANG_P if pool else LANG_P
    langs = rng.choice(list(lang_p), size=n, p=list(lang_p.values()))
    turns = rng.integers(2, 21, size=n)
    kind = rng.random(n)  # < .10 exact dup, < .15 near dup, else original
    cids, roles, texts, convs = [], [], [], []
    originals: list[list[str]] = []
    for i in range(n):
        if kind[i] < 0.15 and originals:
            src = originals[int(rng.integers(0, len(originals)))]
            msgs = list(src)
            if kind[i] >= 0.10:  # near: change one word in one message
                j = int(rng.integers(0, len(msgs)))
                msgs[j] = _near(rng, msgs[j])
        else:
            if pool:  # real messages, the customer's from the user side, the agent's from the assistant side
                sides = (pool[langs[i]][real_text.USER], pool[langs[i]][real_text.ASSISTANT])
                picks = rng.random(int(turns[i]))
                msgs = [sides[k % 2][int(p * len(sides[k % 2]))] for k, p in enumerate(picks)]
            else:
                lengths = np.minimum(rng.lognormal(2.4, 0.9, size=int(turns[i])).astype(int) + 2, 400)
                msgs = [_message(rng, vocab[langs[i]], int(k)) for k in lengths]
            if rng.random() < 0.02:
                msgs[0] += " " + PII[int(rng.integers(0, len(PII)))].format(i % 100)
            if rng.random() < 0.0005:  # over-long: ~100k tokens
                msgs[-1] = " ".join([msgs[-1]] * (400_000 // max(len(msgs[-1]), 1)))
            originals.append(msgs)
        cid = f"conv-{i:08d}"
        for k, m in enumerate(msgs):
            cids.append(cid)
            roles.append("customer" if k % 2 == 0 else "agent")
            texts.append(m)
        convs.append([{"role": "user" if k % 2 == 0 else "assistant", "content": m} for k, m in enumerate(msgs)])
    messages = pl.DataFrame({"conversation_id": cids, "speaker": roles, "text": texts})
    conversations = pl.DataFrame({"conversation_id": [f"conv-{i:08d}" for i in range(n)], "messages": convs})
    return messages, conversations


def write(n: int, out: Path, seed: int = 7, text: str = "synthetic") -> dict[str, Path]:
    """The CSV and Parquet files for (n, seed, text), generated unless they exist (seed 7 keeps the
    historical names synthetic_<n>.* / real_<n>.*)."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{text}_{n}" if seed == 7 else f"{text}_{n}_seed{seed}"
    paths = {"csv": out / f"{stem}.csv", "parquet": out / f"{stem}.parquet"}
    if not all(p.exists() for p in paths.values()):
        messages, conversations = generate(n, seed, text)
        messages.write_csv(paths["csv"])
        conversations.write_parquet(paths["parquet"])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path("bench/data"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--text", choices=TEXTS, default="synthetic",
                    help="random words (synthetic) or real messages from ../shared/realdata (real)")
    args = ap.parse_args()
    try:
        paths = write(args.n, args.out, args.seed, args.text)
    except real_text.RealDataMissing as e:
        print(f"skipped --text real: {e}", file=sys.stderr)
        return
    for kind, p in paths.items():
        print(f"{kind}: {p} ({p.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
