"""Caption -> LLaVA conversation, for ADR's synthetic samples.

template: one LLaVA detailed-description instruction (drawn by seed) answered by the caption.
llm: an instruction LLM writes a multi-turn LLaVA-Instruct-style conversation from the
caption (paper: Llama-3-70B-Instruct, temperature 0); an answer that does not parse falls
back to the template, and the fallback is counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from curation.data.messages import IMAGE_TOKEN

# LLaVA-Instruct's detailed-description instructions.
DESCRIBE_INSTRUCTIONS = (
    "Describe the following image in detail.",
    "Provide a detailed description of the given image.",
    "Give an elaborate explanation of the image you see.",
    "Share a comprehensive rundown of the presented image.",
    "Offer a thorough analysis of the image.",
    "Explain the various aspects of the image before you.",
    "Clarify the contents of the displayed image with great detail.",
    "Characterize the image using a well-detailed description.",
    "Break down the elements of the image in a detailed manner.",
    "Walk through the important details of the image.",
    "Portray the image with a rich, descriptive narrative.",
    "Narrate the contents of the image with precision.",
    "Analyze the image in a comprehensive and detailed manner.",
    "Illustrate the image through a descriptive explanation.",
    "Examine the image closely and share its details.",
    "Write an exhaustive depiction of the given image.",
)

CONVERSATION_PROMPT = (
    "You are given a detailed description of an image. Write a conversation between a user "
    "who asks about the image and an assistant who answers as if it sees the image. Ask 2 to "
    "4 diverse questions (objects, colours, counts, positions, what is happening) whose "
    "answers are certain from the description. Write every turn on its own line, starting "
    "with 'User:' or 'Assistant:', and nothing else.\n\nDescription:\n{caption}"
)
_TURN = re.compile(r"^\s*(user|human|question|assistant|gpt|answer)\s*:\s*(.*)$", re.IGNORECASE)


def template_conversation(caption: str, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    instruction = DESCRIBE_INSTRUCTIONS[int(rng.integers(len(DESCRIBE_INSTRUCTIONS)))]
    return [
        {"from": "human", "value": f"{IMAGE_TOKEN}\n{instruction}"},
        {"from": "gpt", "value": caption},
    ]


def parse_conversation(text: str) -> list[dict[str, str]] | None:
    """'User:'/'Assistant:' lines -> alternating LLaVA turns; None if it does not parse."""
    turns: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _TURN.match(line)
        if match:
            role = "human" if match.group(1).lower() in ("user", "human", "question") else "gpt"
            turns.append({"from": role, "value": match.group(2).strip()})
        elif turns and line.strip():
            turns[-1]["value"] = f"{turns[-1]['value']}\n{line.strip()}".strip()
    roles = [t["from"] for t in turns]
    if len(turns) < 2 or len(turns) % 2 or roles != ["human", "gpt"] * (len(turns) // 2):
        return None
    if any(not t["value"] or IMAGE_TOKEN in t["value"] for t in turns):
        return None
    turns[0]["value"] = f"{IMAGE_TOKEN}\n{turns[0]['value']}"
    return turns


class ConversationWriter:
    """Captions -> conversations; `complete` (prompts -> answers) enables the llm mode."""

    def __init__(self, mode: str, complete: Callable[[list[str]], list[str]] | None = None) -> None:
        if mode not in ("template", "llm"):
            raise ValueError(f"conversation writer must be template or llm, got {mode!r}")
        if mode == "llm" and complete is None:
            raise ValueError("the llm conversation writer needs a completion function")
        self.mode, self.complete = mode, complete
        self.fallbacks = 0

    def __call__(self, captions: Sequence[str], seeds: Sequence[int]) -> list[list[dict[str, Any]]]:
        if self.mode == "template":
            return [template_conversation(c, s) for c, s in zip(captions, seeds, strict=True)]
        assert self.complete is not None
        answers = self.complete([CONVERSATION_PROMPT.format(caption=c) for c in captions])
        out = []
        for caption, seed, answer in zip(captions, seeds, answers, strict=True):
            turns = parse_conversation(answer)
            if turns is None:
                self.fallbacks += 1
                turns = template_conversation(caption, seed)
            out.append(turns)
        return out
