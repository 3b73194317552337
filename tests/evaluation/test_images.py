"""Evaluation images are shaped as training shapes them (pad to a square of the processor's
mean colour, then the processor), unless image_aspect_ratio=crop asks for the processor alone."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from configs.compose import ConfigError
from evaluation.errors import EvalError
from evaluation.images import shape_images
from evaluation.suites import eval_config

PROMPT = "USER: <image>\nWhat colour is it? ASSISTANT:"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)


@pytest.fixture(scope="module")
def models(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    return {
        policy: VlmdataLlava(str(tiny_checkpoint), progress=False, image_aspect_ratio=policy)
        for policy in ("pad", "crop")
    }


def _training_pixels(checkpoint, root, name: str) -> torch.Tensor:
    """The pixels stage-2 training makes of root/name with this checkpoint's processor."""
    from training.data import LlavaDataset
    from training.models import load_hf_llava

    _, processor = load_hf_llava(str(checkpoint))
    record = {
        "id": "r0",
        "image": name,
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": "red"},
        ],
    }
    example = LlavaDataset([record], root, processor, model_max_length=256)[0]
    assert example.pixel_values.shape[0] == 1  # one image per <image>, stacked
    return example.pixel_values[0]


@pytest.mark.parametrize("size", [(64, 40), (40, 64)])
def test_evaluation_pixels_equal_training_pixels(models, tiny_checkpoint, tmp_path, size):
    Image.effect_noise(size, 60).convert("RGB").save(tmp_path / "wide.png")
    trained = _training_pixels(tiny_checkpoint, tmp_path, "wide.png")
    with Image.open(tmp_path / "wide.png") as image:
        shown = {
            policy: model._inputs([(PROMPT, [image])])["pixel_values"][0]
            for policy, model in models.items()
        }
    assert shown["pad"].shape == trained.shape
    assert torch.equal(shown["pad"], trained)
    # the check can fail: the processor alone crops the long side, and the pixels differ
    assert not torch.equal(shown["crop"], trained)
    with Image.open(tmp_path / "wide.png") as image:
        processor_only = models["crop"].processor.image_processor(image, return_tensors="pt")
    assert torch.equal(shown["crop"], processor_only["pixel_values"][0])


def test_pad_centres_the_image_on_the_processors_mean_colour():
    image = Image.new("RGB", (6, 2), (255, 0, 0))
    padded, cropped = (shape_images([image], CLIP_MEAN, policy)[0] for policy in ("pad", "crop"))
    assert padded.size == (6, 6) and cropped.size == (6, 2)
    mean = (122, 116, 104)  # int(x * 255) of CLIP's mean, as LLaVA-1.5 truncates it
    rows = [[padded.getpixel((x, y)) for x in range(6)] for y in range(6)]
    assert rows[0] == rows[1] == rows[4] == rows[5] == [mean] * 6
    assert rows[2] == rows[3] == [(255, 0, 0)] * 6


def test_square_and_grey_images_are_unchanged_but_rgb():
    square = Image.new("L", (5, 5), 200)
    (shaped,) = shape_images([square], CLIP_MEAN, "pad")
    assert shaped.mode == "RGB" and shaped.size == (5, 5)
    assert shaped.getcolors() == [(25, (200, 200, 200))]


def test_an_unknown_policy_is_one_line_naming_the_key(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    with pytest.raises(EvalError, match="image_aspect_ratio must be one of pad|crop"):
        shape_images([], CLIP_MEAN, "square")
    with pytest.raises(EvalError, match="image_aspect_ratio must be one of pad|crop"):
        VlmdataLlava(str(tiny_checkpoint), image_aspect_ratio="square")
    with pytest.raises(ConfigError, match="'model.image_aspect_ratio' must be one of pad|crop"):
        eval_config(["suite=toyworld", "model.image_aspect_ratio=square"])
    assert eval_config(["suite=toyworld"]).model.image_aspect_ratio == "pad"
