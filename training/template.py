"""The vicuna_v1 conversation template of LLaVA-1.5, as Python (training) and Jinja (inference).

    <system> USER: <image>\\n<q1> ASSISTANT: <a1></s>USER: <q2> ASSISTANT: <a2></s>

`render_record` builds the training text and the character spans that carry loss (everything
after each "ASSISTANT:" up to and including its end-of-turn token). `VICUNA_V1_CHAT_TEMPLATE`
renders the same text from chat messages, so a checkpoint prompted through
`apply_chat_template` (lmms-eval's llava_hf) sees exactly the training format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from configs.errors import UserError
from curation.data.messages import IMAGE_TOKEN

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
USER, ASSISTANT = "USER", "ASSISTANT"
ROLE_NAMES = {"human": USER, "gpt": ASSISTANT}

# Content may be a string (lmms-eval's llava_hf) or a list of {"type": "image"|"text"} items
# (transformers' chat format); images go first, as LLaVA puts <image> at the start of a turn.
VICUNA_V1_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system='" + SYSTEM.replace("'", "\\'") + "', text='') -%}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set ns.system = messages[0]['content'] -%}"
    "{%- else -%}{%- set ns.system = messages[0]['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('') -%}{%- endif -%}"
    "{%- endif -%}"
    "{{- ns.system + ' ' -}}"
    "{%- for message in messages if message['role'] != 'system' -%}"
    "{%- if message['content'] is string -%}{%- set ns.text = message['content'] -%}"
    "{%- else -%}{%- set ns.text = '' -%}"
    "{%- for item in message['content'] if item['type'] == 'image' -%}"
    "{%- set ns.text = ns.text + '<image>\\n' -%}{%- endfor -%}"
    "{%- for item in message['content'] if item['type'] == 'text' -%}"
    "{%- set ns.text = ns.text + item['text'] -%}{%- endfor -%}"
    "{%- endif -%}"
    "{%- if message['role'] == 'user' -%}{{- 'USER: ' + ns.text + ' ' -}}"
    "{%- else -%}{{- 'ASSISTANT: ' + ns.text + eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)


class TemplateError(UserError, ValueError):
    """A conversation that the template cannot render (the message names the problem)."""


@dataclass(frozen=True)
class RenderedConversation:
    text: str
    target_spans: tuple[tuple[int, int], ...]  # [start, end) character ranges that carry loss


def render_record(
    record: Mapping[str, Any], eos_token: str, system: str = SYSTEM
) -> RenderedConversation:
    """The vicuna_v1 training text of a LLaVA record and the spans of its assistant answers,
    as LLaVA-1.5's preprocess_multimodal + Conversation.get_prompt build it.

    A turn that holds `<image>` (for a record with an image) has it removed and put back at
    the turn's start followed by a newline; the turn stays where it is (LLaVA does not move it
    to the first turn). A turn of a multi-image record that holds several `<image>`s keeps them
    where they are (LLaVA-NeXT). An empty turn renders as "ROLE:" with no separator after it (so an
    empty answer has no end-of-turn token and no span).
    """
    turns: Sequence[Mapping[str, Any]] = record["conversations"]
    if not turns or turns[0].get("from") != "human":
        raise TemplateError("the conversation must start with a 'human' turn")
    has_image = "image" in record
    images = record.get("image")
    several = isinstance(images, list) and len(images) > 1
    parts: list[str] = [system + " "]
    spans: list[tuple[int, int]] = []
    length = len(parts[0])
    for number, turn in enumerate(turns):
        role = turn.get("from")
        if role != ("human", "gpt")[number % 2]:
            raise TemplateError(f"turn {number + 1} is {role!r}; roles must alternate human, gpt")
        value = str(turn["value"])
        if several and value.count(IMAGE_TOKEN) > 1:
            pass  # a multi-image record's turn with several images keeps them in place
        elif IMAGE_TOKEN in value:
            value = value.replace(IMAGE_TOKEN, "").strip()
            # a text-only record's stray <image> is dropped (validation refuses such records)
            value = f"{IMAGE_TOKEN}\n{value}".strip() if has_image else value
        name = ROLE_NAMES[role]
        if not value:
            piece = f"{name}:"
        elif role == "human":
            piece = f"{name}: {value} "
        else:
            head = f"{name}:"
            piece = f"{head} {value}{eos_token}"
            spans.append((length + len(head), length + len(piece)))
        parts.append(piece)
        length += len(piece)
    return RenderedConversation("".join(parts), tuple(spans))
