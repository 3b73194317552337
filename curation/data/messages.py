"""A LLaVA record as chat messages in transformers' format (what chat templates render)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IMAGE_TOKEN = "<image>"


def record_to_messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """LLaVA turns -> chat messages; `<image>` removed from the text and put first in turn 1.

    A multi-image record ("image": [paths]) keeps each image in its own turn: a turn gets one
    image item per `<image>` it holds, before its text, so the images come in token order.
    """
    images = record.get("image")
    multi = isinstance(images, list) and len(images) > 1
    messages: list[dict[str, Any]] = []
    for number, turn in enumerate(record["conversations"]):
        value = str(turn["value"])
        text = value.replace(IMAGE_TOKEN, "").strip()
        content: list[dict[str, Any]] = []
        if multi:
            content += [{"type": "image"}] * value.count(IMAGE_TOKEN)
        elif number == 0 and "image" in record:
            content.append({"type": "image"})
        content.append({"type": "text", "text": text})
        messages.append(
            {"role": "user" if turn["from"] == "human" else "assistant", "content": content}
        )
    return messages
