"""`vlmdata_llava`: lmms-eval's llava_hf (chat mode) made exact, reusable and batchable, with
LLaVA-1.5's own evaluation inputs by default.

Prompts are the task's chat messages rendered by a chat template, images first. By default
(`chat_template="vicuna_v1"`, `image_aspect_ratio="pad"`, `token_stream="llava"`) the model sees
what LLaVA-1.5's own evaluation shows it, and what vlmdata's training showed it: the vicuna_v1
prompt, tokenized as LLaVA's tokenizer_image_token does, and each image padded to a square with
the processor's mean colour before the resize + centre crop (evaluation.prompts,
evaluation.tokens, evaluation.images). `chat_template="checkpoint"`, `image_aspect_ratio="crop"`
and `token_stream="whole"` give llava_hf's inputs exactly. What else differs from llava_hf,
and why:
  - the checkpoint must carry a chat template: llava_hf silently falls back to its own;
  - the image processor always uses the PIL backend, so pixels do not depend on whether
    torchvision is installed;
  - generation errors raise: llava_hf logs them and scores an empty answer;
  - `until` stop strings are honoured (llava_hf ignores them) and `do_sample` is respected;
  - `batch_size` > 1 pads on the left and generates a batch at once;
  - the model survives `simple_evaluate`'s final `clean()`, so one load serves many tasks.

`blind=True` is a control for any task: every image is replaced by a grey one of the same size
(`blind_images`), so the answers can only come from the text; it is then shaped like any image.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import torch
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from lmms_eval.protocol import ChatMessages
from PIL import Image
from tqdm import tqdm
from transformers import (
    AutoImageProcessor,
    AutoProcessor,
    BatchFeature,
    LlavaForConditionalGeneration,
)

from evaluation.errors import EvalError
from evaluation.images import IMAGE_ASPECT_RATIOS, shape_images
from evaluation.prompts import select_chat_template
from evaluation.tokens import TOKEN_STREAMS, left_padded, llava_input_ids
from training.images import BLIND_GREY
from training.models import num_image_tokens

MODEL_ID = "vlmdata_llava"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_MAX_NEW_TOKENS = 1024  # llava_hf's default when a task sets none


class VlmdataLlava(lmms):
    is_simple = False  # chat model: requests carry the task's doc_to_messages

    def __init__(
        self,
        pretrained: str,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int | str = 1,
        attn_implementation: str | None = None,
        progress: bool = True,
        blind: bool = False,
        chat_template: str = "vicuna_v1",
        image_aspect_ratio: str = "pad",
        token_stream: str = "llava",
        **unused: Any,
    ) -> None:
        super().__init__()
        if not isinstance(blind, bool):
            raise EvalError(f"model blind must be true or false, got {blind!r}")
        if image_aspect_ratio not in IMAGE_ASPECT_RATIOS:
            raise EvalError(
                f"model image_aspect_ratio must be one of {'|'.join(IMAGE_ASPECT_RATIOS)}, "
                f"got {image_aspect_ratio!r}"
            )
        if token_stream not in TOKEN_STREAMS:
            raise EvalError(
                f"model token_stream must be one of {'|'.join(TOKEN_STREAMS)}, got {token_stream!r}"
            )
        if dtype not in DTYPES:
            raise EvalError(f"model dtype must be one of {'|'.join(DTYPES)}, got {dtype!r}")
        self._device = torch.device(device)
        kwargs: dict[str, Any] = {
            "dtype": DTYPES[dtype],
            "device_map": {"": device},
            "local_files_only": True,
        }
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        processor = AutoProcessor.from_pretrained(pretrained, local_files_only=True)
        processor.chat_template = select_chat_template(chat_template, processor, pretrained)
        processor.image_processor = AutoImageProcessor.from_pretrained(
            pretrained, backend="pil", local_files_only=True
        )
        processor.tokenizer.padding_side = "left"
        self.processor = processor
        self.tokenizer = processor.tokenizer
        model = LlavaForConditionalGeneration.from_pretrained(pretrained, **kwargs)
        self.llava = model.eval()
        self.batch_size_per_gpu = int(batch_size)
        self.progress = progress
        self.pretrained = pretrained
        self.blind = blind
        self.chat_template = chat_template
        self.image_aspect_ratio = image_aspect_ratio
        self.token_stream = token_stream
        self.image_seq_length = num_image_tokens(processor)
        self.accelerator = None  # single process: keeps lmms-eval from making an Accelerator
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def clean(self) -> None:
        """lmms-eval calls this after every evaluation; the model stays loaded for the next task."""

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(f"{MODEL_ID} runs generation tasks only")

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError(f"{MODEL_ID} runs single-turn generation tasks only")

    def generate_until(self, requests: list[Instance]) -> list[str]:
        groups: dict[str, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            _, _, gen_kwargs, _, task, split = request.args
            groups[json.dumps([task, split, gen_kwargs], sort_keys=True, default=str)].append(index)
        answers: list[str] = [""] * len(requests)
        bar = tqdm(total=len(requests), desc=MODEL_ID, disable=not self.progress)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size_per_gpu):
                batch = indices[start : start + self.batch_size_per_gpu]
                prompts = [self._prompt(requests[i]) for i in batch]
                gen_kwargs = dict(requests[batch[0]].args[2])
                generated = self._generate(prompts, gen_kwargs)
                for i, answer in zip(batch, generated, strict=True):
                    answers[i] = answer
                    context, _, kwargs, *_ = requests[i].args
                    self.cache_hook.add_partial("generate_until", (context, kwargs), answer)
                bar.update(len(batch))
        bar.close()
        return answers

    def _prompt(self, request: Instance) -> tuple[str, list[Image.Image]]:
        _, doc_to_messages, _, doc_id, task, split = request.args
        messages = ChatMessages(messages=doc_to_messages(self.task_dict[task][split][doc_id]))
        images, videos, audios = messages.extract_media()
        if videos or audios:
            raise EvalError(f"task {task}: {MODEL_ID} takes images and text only")
        text = self.processor.apply_chat_template(
            messages.model_dump()["messages"], tokenize=False, add_generation_prompt=True
        )
        images = [image.convert("RGB") for image in images]
        return text, blind_images(images) if self.blind else images

    def _inputs(self, prompts: list[tuple[str, list[Image.Image]]]) -> BatchFeature:
        """input_ids, attention_mask (left-padded) and pixel_values of `prompts`."""
        texts = [text for text, _ in prompts]
        flat = [image for _, images in prompts for image in images]
        shaped = shape_images(
            flat, self.processor.image_processor.image_mean, self.image_aspect_ratio
        )
        if self.token_stream == "whole":
            return self.processor(
                images=shaped or None, text=texts, padding=True, return_tensors="pt"
            )
        rows = [llava_input_ids(self.tokenizer, text, self.image_seq_length) for text in texts]
        batch = left_padded(rows, self.pad_token_id)
        if shaped:
            pixels = self.processor.image_processor(shaped, return_tensors="pt")["pixel_values"]
            batch["pixel_values"] = pixels
        return BatchFeature(batch)

    @torch.inference_mode()
    def _generate(
        self, prompts: list[tuple[str, list[Image.Image]]], gen_kwargs: dict[str, Any]
    ) -> list[str]:
        inputs = self._inputs(prompts).to(self._device, self.llava.dtype)
        until = gen_kwargs.pop("until", None) or [self.tokenizer.eos_token]
        until = [until] if isinstance(until, str) else list(until)
        temperature = float(gen_kwargs.get("temperature", 0) or 0)
        do_sample = bool(gen_kwargs.get("do_sample", temperature > 0)) and temperature > 0
        sampling = (
            {"temperature": temperature, "top_p": gen_kwargs.get("top_p")} if do_sample else {}
        )
        output = self.llava.generate(
            **inputs,
            max_new_tokens=int(gen_kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            num_beams=int(gen_kwargs.get("num_beams", 1) or 1),
            do_sample=do_sample,
            **sampling,
            use_cache=True,
            pad_token_id=self.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_cut(text, until) for text in decoded]


def blind_images(images: list[Image.Image]) -> list[Image.Image]:
    """One grey RGB image per image, each of its original's size: what a blind run shows."""
    return [Image.new("RGB", image.size, BLIND_GREY) for image in images]


def _cut(text: str, stops: list[str]) -> str:
    for stop in stops:
        if stop:
            text = text.split(stop, 1)[0]
    return text


def register() -> None:
    """Make `simple_evaluate(model="vlmdata_llava", model_args="pretrained=DIR,...")` work."""
    from lmms_eval.models import MODEL_REGISTRY_V2
    from lmms_eval.models.registry_v2 import ModelManifest

    MODEL_REGISTRY_V2.register_manifest(
        ModelManifest(model_id=MODEL_ID, chat_class_path=f"{__name__}.VlmdataLlava"),
        overwrite=True,
    )
