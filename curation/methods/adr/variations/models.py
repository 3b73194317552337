"""The models ADR Data Synthesis asks about a new image: an image embedder for best-of-N
filtering and the reference LVLM as captioner. transformers only; loaded by path or name.

    ReferenceLVLM   a LLaVA checkpoint (HF directory or hub name): captions with the model's
                    chat template, greedy; embeds images with its vision tower
    ClipEmbedder    CLIP image features (paper: openai/clip-vit-large-patch14-336)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from configs.compose import ConfigError


class SynthesisError(ConfigError):
    """Data synthesis cannot run as configured (a model or file is missing)."""


def _load_error(what: str, name: str, err: Exception) -> SynthesisError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return SynthesisError(f"{what} {name!r} cannot be loaded: {first}")


def _normalise(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    return torch.nn.functional.normalize(features, dim=-1).numpy()


class ReferenceLVLM:
    """A LLaVA-style model as captioner and image embedder."""

    def __init__(
        self,
        name_or_path: str,
        device: str = "cpu",
        local_files_only: bool = True,
        batch_size: int = 16,
    ) -> None:
        from curation.features.extract import hf_reference

        try:
            model, self.processor = hf_reference(name_or_path, local_files_only).load()
        except (OSError, ValueError) as err:
            raise _load_error("reference LVLM", name_or_path, err) from None
        self.model = model.to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def caption(self, images: Sequence[Image.Image], prompt: str, max_new_tokens: int) -> list[str]:
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        ]
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = [im.convert("RGB") for im in images[start : start + self.batch_size]]
            inputs = self.processor(
                images=batch, text=[text] * len(batch), return_tensors="pt", padding=True
            ).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[:, inputs["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            captions.extend(text.strip() for text in texts)
        return captions

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised pooled vision-tower features (the CLS token after the last norm)."""
        pixels = self.processor.image_processor(
            [im.convert("RGB") for im in images], return_tensors="pt"
        )["pixel_values"]
        tower = self.model.model.vision_tower
        with torch.inference_mode():
            out = tower(pixels.to(self.device, tower.dtype))
        pooled = getattr(out, "pooler_output", None)
        return _normalise(pooled if pooled is not None else out.last_hidden_state.mean(dim=1))


class ClipEmbedder:
    def __init__(
        self, name_or_path: str, device: str = "cpu", local_files_only: bool = True
    ) -> None:
        from transformers import AutoImageProcessor, CLIPModel

        try:
            self.processor = AutoImageProcessor.from_pretrained(
                name_or_path, backend="pil", local_files_only=local_files_only
            )
            self.model = CLIPModel.from_pretrained(
                name_or_path, local_files_only=local_files_only
            ).to(device)
        except (OSError, ValueError) as err:
            raise _load_error("CLIP model", name_or_path, err) from None
        self.model.eval()
        self.device = device

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        pixels = self.processor([im.convert("RGB") for im in images], return_tensors="pt")[
            "pixel_values"
        ]
        with torch.inference_mode():
            features: Any = self.model.get_image_features(pixel_values=pixels.to(self.device))
        if not isinstance(features, torch.Tensor):  # some versions return an output object
            features = features.pooler_output
        return _normalise(features)


def best_of(target: np.ndarray, candidates: np.ndarray) -> tuple[int, np.ndarray]:
    """Index of the candidate most cosine-similar to its target, and all similarities.

    All L2-normalised: candidates (n, d); target (d,) for all of them, or (n, d), one each.
    """
    similarity = np.sum(candidates * target, axis=-1)
    return int(np.argmax(similarity)), similarity
