"""Which chat template turns a task's messages into the prompt string.

vicuna_v1   LLaVA-1.5's conversation template (training.template), as LLaVA's own
            evaluation prompts every LLaVA-1.5 model, ours and the official ones alike
checkpoint  the checkpoint's own template (the processor's, else the tokenizer's), as
            lmms-eval's llava_hf does; llava-hf/llava-1.5-7b-hf's has no system line
"""

from __future__ import annotations

from typing import Any

from evaluation.errors import EvalError
from training.template import VICUNA_V1_CHAT_TEMPLATE

CHAT_TEMPLATES = ("vicuna_v1", "checkpoint")


def select_chat_template(name: str, processor: Any, checkpoint: str) -> str:
    """The Jinja template `name` selects for a checkpoint's processor."""
    if name == "vicuna_v1":
        return VICUNA_V1_CHAT_TEMPLATE
    if name != "checkpoint":
        raise EvalError(
            f"model chat_template must be one of {'|'.join(CHAT_TEMPLATES)}, got {name!r}"
        )
    own = processor.chat_template or getattr(processor.tokenizer, "chat_template", None)
    if not own:
        raise EvalError(
            f"checkpoint {checkpoint}: chat_template=checkpoint, but it has no chat template"
        )
    return own
