"""Synthetic raw conversations with a realistic shape, for `make bench`.

N conversations, 2–20 turns, long-tailed message lengths (~250 tokens per conversation on average),
~10 % exact and ~5 % near duplicates, several languages, some PII, some over-long conversations.
Written as CSV (messages layout: one row per message) and Parquet (conversations layout).
Deterministic for a given (n, seed); files are reused when they already exist.

    python -m bench.synthetic --n 100000 --out bench/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

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
PII = ["my email is jane.doe{0}@example.com", "call me on +1 555-01{0:02d}", "card 4111 1111 1111 1111",
       "IBAN DE89 3704 0044 0532 0130 00", "from ip 192.168.{0}.7"]


def _message(rng: np.random.Generator, vocab: list[str], n_words: int) -> str:
    words = [vocab[i] for i in rng.integers(0, len(vocab), n_words)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def generate(n: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (messages frame, conversations frame) for n conversations."""
    rng = np.random.default_rng(seed)
    vocab = {k: v.split() for k, v in WORDS.items()}
    langs = rng.choice(list(LANG_P), size=n, p=list(LANG_P.values()))
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
                w = msgs[j].split(" ")
                w[int(rng.integers(0, len(w)))] = "really"
                msgs[j] = " ".join(w)
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


def write(n: int, out: Path, seed: int = 7) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"synthetic_{n}.csv", "parquet": out / f"synthetic_{n}.parquet"}
    if not all(p.exists() for p in paths.values()):
        messages, conversations = generate(n, seed)
        messages.write_csv(paths["csv"])
        conversations.write_parquet(paths["parquet"])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path("bench/data"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    for kind, p in write(args.n, args.out, args.seed).items():
        print(f"{kind}: {p} ({p.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
