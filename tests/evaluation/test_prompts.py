"""The prompt is LLaVA-1.5's vicuna_v1 by default, whatever template the checkpoint carries;
chat_template=checkpoint gives the checkpoint's own (lmms-eval's llava_hf)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lmms_eval.api.instance import Instance
from PIL import Image

from configs.compose import ConfigError
from evaluation.errors import EvalError
from evaluation.suites import eval_config

QUESTION = "What colour is the circle?\nAnswer the question using a single word or phrase."
# A llava-hf style template: no system line, "USER: <image>\n... ASSISTANT:"
OWN_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}"
    "{% endfor %}{% for item in message['content'] %}{% if item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def llava_vicuna_v1_prompt(question: str) -> str:
    """LLaVA-1.5's evaluation prompt (model_vqa_loader): conv_templates["vicuna_v1"] with the
    question after "<image>\\n" and an empty assistant turn; separator style TWO (" ", "</s>")."""
    system = (
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    )
    seps = (" ", "</s>")
    prompt = system + seps[0]
    for number, (role, message) in enumerate(
        [("USER", "<image>\n" + question), ("ASSISTANT", None)]
    ):
        prompt += f"{role}: {message}{seps[number % 2]}" if message else f"{role}:"
    return prompt


def _with_template(checkpoint: Path, target: Path, template: str | None) -> Path:
    """A copy of `checkpoint` whose processor and tokenizer carry `template` (None: none)."""
    target = shutil.copytree(checkpoint, target)
    (target / "chat_template.jinja").unlink()
    if template is not None:
        (target / "chat_template.jinja").write_text(template, encoding="utf-8")
    for name in ("tokenizer_config.json", "processor_config.json"):
        config = json.loads((target / name).read_text())
        config.pop("chat_template", None)
        if template is not None and name == "tokenizer_config.json":
            config["chat_template"] = template
        (target / name).write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module")
def own_template_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    return _with_template(tiny_checkpoint, tmp_path_factory.mktemp("own") / "hf", OWN_TEMPLATE)


def _prompt(model) -> str:
    image = Image.new("RGB", (48, 32), (220, 30, 30))
    doc = {"question": QUESTION}

    def doc_to_messages(doc):
        content = [{"type": "image", "url": image}, {"type": "text", "text": doc["question"]}]
        return [{"role": "user", "content": content}]

    model.task_dict = {"task": {"test": [doc]}}
    request = Instance(
        request_type="generate_until",
        arguments=("", doc_to_messages, {}, 0, "task", "test"),
        idx=0,
        metadata={"task": "task", "doc_id": 0, "repeats": 1},
    )
    text, images = model._prompt(request)
    assert len(images) == 1
    return text


def test_default_prompt_is_llavas_vicuna_v1_whatever_the_checkpoints_template(
    own_template_checkpoint,
):
    from evaluation.model import VlmdataLlava

    default = VlmdataLlava(str(own_template_checkpoint), progress=False)
    assert _prompt(default) == llava_vicuna_v1_prompt(QUESTION)
    own = VlmdataLlava(str(own_template_checkpoint), progress=False, chat_template="checkpoint")
    assert _prompt(own) == f"USER: <image>\n{QUESTION} ASSISTANT:"


def test_checkpoint_template_needs_one(tiny_checkpoint, tmp_path):
    from evaluation.model import VlmdataLlava

    bare = _with_template(tiny_checkpoint, tmp_path / "bare", None)
    assert _prompt(VlmdataLlava(str(bare), progress=False)) == llava_vicuna_v1_prompt(QUESTION)
    with pytest.raises(EvalError, match="chat_template=checkpoint, but it has no chat template"):
        VlmdataLlava(str(bare), chat_template="checkpoint")


def test_an_unknown_template_is_one_line_naming_the_key(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    with pytest.raises(EvalError, match="chat_template must be one of vicuna_v1|checkpoint"):
        VlmdataLlava(str(tiny_checkpoint), chat_template="llama3")
    with pytest.raises(ConfigError, match="'model.chat_template' must be one of vicuna_v1|"):
        eval_config(["suite=coincide12", "model.chat_template=llama3"])
    assert eval_config(["suite=coincide12"]).model.chat_template == "vicuna_v1"
