"""The heuristics of a preference pair's two replies, checked before the reply checks (docs/preference-design.md).

  identical_pair  the chosen and the rejected reply are the same message once case, whitespace and ids are
                  set aside (chat/message_equality.py, the equality dedup's fingerprints use): a pair that
                  teaches nothing. The layouts reject exactly equal replies at conversion; this catches the
                  ones equal only after normalize / pii, or up to case and spacing
  empty_side      a reply with no text and no tool call (chat.preference.is_empty_reply, the rule the layouts
                  reject missing_<side> by): emptied by normalize or pii, nothing is left to prefer or avoid

The reply checks (short_reply, refusal_boilerplate, ...) see the prompt and the chosen reply only: a rejected
reply is meant to be the worse one, so failing them is what it is for.
"""

from __future__ import annotations

from pipeline.chat import preference
from pipeline.chat.message_equality import same_message
from pipeline.chat.texts import message_text

PAIR_REASONS = ("identical_pair", "empty_side")


def pair_hits(pair: dict) -> list[tuple[str, str]]:
    """The failing pair checks of a preference pair as (reason, detail), in the order of PAIR_REASONS."""
    chosen, rejected = preference.chosen(pair), preference.rejected(pair)
    hits: list[tuple[str, str]] = []
    if same_message(chosen, rejected):
        text = " ".join(message_text(chosen).split())
        shown = repr(text if len(text) <= 60 else text[:59] + "…")
        hits.append(("identical_pair", (f"the chosen and rejected replies are the same (case, whitespace and "
                                        f"tool-call ids aside): {shown}")))
    empty = [side for side, message in (("chosen", chosen), ("rejected", rejected)) if preference.is_empty_reply(message)]
    if empty:
        hits.append(("empty_side", " and ".join(f"the {side} reply" for side in empty)
                     + (" has" if len(empty) == 1 else " have") + " no text and no tool call"))
    return hits
