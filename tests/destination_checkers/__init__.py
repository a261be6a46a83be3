"""Independent format checkers for the fine-tuning destinations of issue 15 (and the preference files of 16).

Written from each provider's published documentation and validators (docs/destinations-sources.md), never
from our writers: nothing here imports pipeline/ or schemas/. They are the test oracle for the target
writers. Per destination:

    DESTINATIONS[name].check_file(path, model=None, split="train") -> ["line 3: ...", ...]   # [] = valid
    DESTINATIONS[name].to_chat(record) -> {"messages": [...], "tools"?: [...]}               # OpenAI chat
    DESTINATIONS[name].check_preference_file(path, model=None, split="train") -> [...]       # None: no DPO
    DESTINATIONS[name].preference_to_pair(record) -> {"prompt", "chosen", "rejected"}         # None: no DPO

The modules also carry the record-level checks (`check_record`, ...) and, in hf, the LLaMA-Factory and
axolotl config checks (`check_llamafactory_entry`, `check_axolotl_snippet`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tests.destination_checkers import bedrock_nova, hf, openai_compatible, together, vertex_gemini


@dataclass(frozen=True)
class Destination:
    name: str
    check_file: Callable[..., list[str]]
    to_chat: Callable[[dict], dict]
    check_preference_file: Callable[..., list[str]] | None
    preference_to_pair: Callable[[dict], dict] | None


def _openai_compatible(provider: str) -> Destination:
    return Destination(provider, partial(openai_compatible.check_file, provider=provider), openai_compatible.to_chat,
                       partial(openai_compatible.check_preference_file, provider=provider),
                       openai_compatible.preference_to_pair)


DESTINATIONS: dict[str, Destination] = {
    "openai": _openai_compatible("openai"),
    "azure-openai": _openai_compatible("azure-openai"),
    "fireworks": _openai_compatible("fireworks"),
    "together": Destination("together", together.check_file, together.to_chat, together.check_preference_file,
                            together.preference_to_pair),
    # Vertex AI supervised tuning of Gemini documents no preference format
    "vertex-gemini": Destination("vertex-gemini", vertex_gemini.check_file, vertex_gemini.to_chat, None, None),
    "bedrock-nova": Destination("bedrock-nova", bedrock_nova.check_file, bedrock_nova.to_chat,
                                bedrock_nova.check_preference_file, bedrock_nova.preference_to_pair),
    "hf": Destination("hf", hf.check_file, hf.to_chat, hf.check_preference_file, hf.preference_to_pair),
}
