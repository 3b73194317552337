"""A LLaVA record as chat messages in transformers' format (what chat templates render)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IMAGE_TOKEN = "<image>"


def record_to_messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """LLaVA turns -> chat messages; `<image>` removed from the text and put first in turn 1."""
    messages: list[dict[str, Any]] = []
    for number, turn in enumerate(record["conversations"]):
        text = str(turn["value"]).replace(IMAGE_TOKEN, "").strip()
        content: list[dict[str, Any]] = []
        if number == 0 and "image" in record:
            content.append({"type": "image"})
        content.append({"type": "text", "text": text})
        messages.append(
            {"role": "user" if turn["from"] == "human" else "assistant", "content": content}
        )
    return messages
