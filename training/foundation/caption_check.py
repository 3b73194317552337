"""Did stage 1 align? Held-out captions and grounded questions read with the image and with a
grey one.

Teacher-forced: for every shape and colour word of a held-out caption (a word that is one token
of the world's tokenizer), is it the model's most likely next token? A model that names what
it sees scores far above 1 / (number of shapes or colours) with the image and near it with the
grey image (the blind control's image). Stage 1 with the tiny LM frozen stays at the grey
figure; that is what recipe.py's departure from LLaVA-1.5 rests on. Grounded questions check
the comparisons stage 1 teaches (recipe.align.grounded): far above their grey figure with the
real image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from PIL import Image

from toyworld.config import ToyWorldConfig
from toyworld.pool import PoolSample, Turn
from toyworld.pretraining import CorpusItem
from toyworld.render import render_scene
from toyworld.scene import Scene
from training.data import Collator, Example
from training.encode import IGNORE_INDEX, ConversationEncoder
from training.foundation.align import CAPTION_PROMPT
from training.images import BLIND_GREY
from training.models import assemble_llava15, num_image_tokens

_BATCH = 64


def caption_accuracy(
    language_model: Path,
    clip: Path,
    projector: Path,
    items: Sequence[CorpusItem],
    world: ToyWorldConfig,
) -> dict[str, float]:
    """{shape, colour}: accuracy with the image; {shape, colour}_grey: with a grey image;
    {shape, colour}_words: how many words each figure is over; chance 1 / len(world.shapes)
    and 1 / len(world.colours). The model: the three parts as stage 2 assembles them."""
    model, processor = assemble_llava15(str(language_model), str(clip), projector)
    kinds = _word_kinds(processor.tokenizer, world)
    hits = {f"{kind}{view}": 0 for kind in ("shape", "colour") for view in ("", "_grey")}
    words = {"shape": 0, "colour": 0}
    records = [_caption_record(item.caption) for item in items]
    for view, predicted, target in _read(
        model, processor, records, [i.scene for i in items], world
    ):
        for guess, truth in zip(
            predicted.flatten().tolist(), target.flatten().tolist(), strict=True
        ):
            kind = kinds.get(truth) if truth != IGNORE_INDEX else None
            if kind is not None:
                hits[f"{kind}{view}"] += int(guess == truth)
                words[kind] += view == ""
    result: dict[str, float] = {}
    for kind in ("shape", "colour"):
        n = max(words[kind], 1)
        result[kind] = hits[kind] / n
        result[f"{kind}_grey"] = hits[f"{kind}_grey"] / n
        result[f"{kind}_words"] = words[kind]
    return result


def grounded_accuracy(
    language_model: Path,
    clip: Path,
    projector: Path,
    questions: Sequence[tuple[Scene, Turn]],
    world: ToyWorldConfig,
) -> dict[str, float]:
    """Held-out questions of one skill, each asked for the short answer: is the answer's first
    token (e.g. "yes", "circle", "left") the most likely one? {accuracy, grey}: with the image
    and with a grey one (the grey figure is what the question alone gives away); questions:
    how many."""
    model, processor = assemble_llava15(str(language_model), str(clip), projector)
    records = [
        {
            "image": "held-out",
            "conversations": PoolSample(scene, (Turn(turn.qa, short=True),)).conversations(),
        }
        for scene, turn in questions
    ]
    hits = {"": 0, "_grey": 0}
    scenes = [scene for scene, _ in questions]
    for view, predicted, target in _read(model, processor, records, scenes, world):
        for guess, truth in zip(predicted, target, strict=True):
            first = int((truth != IGNORE_INDEX).nonzero()[0, 0])
            hits[view] += int(guess[first] == truth[first])
    n = max(len(questions), 1)
    return {"accuracy": hits[""] / n, "grey": hits["_grey"] / n, "questions": len(questions)}


def _read(
    model, processor, records: Sequence[dict], scenes: Sequence[Scene], world: ToyWorldConfig
) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """(view, the most likely next tokens, the labels they predict) per batch of `records`
    read teacher-forced with the images of their `scenes` (view "") and with grey ones
    ("_grey")."""
    model.eval()
    tokenizer = processor.tokenizer
    encoder = ConversationEncoder(tokenizer, num_image_tokens(processor), 512)
    collate = Collator(tokenizer.pad_token_id)
    for start in range(0, len(records), _BATCH):
        chunk = [encoder(record) for record in records[start : start + _BATCH]]
        images = [
            render_scene(scene, world.image_size, world.background_noise)
            for scene in scenes[start : start + _BATCH]
        ]
        grey = [Image.new("RGB", image.size, BLIND_GREY) for image in images]
        for view, shown in (("", images), ("_grey", grey)):
            pixels = processor.image_processor(images=shown, return_tensors="pt")["pixel_values"]
            batch = collate(
                [
                    Example(encoded.input_ids, encoded.labels, pixel, False)
                    for encoded, pixel in zip(chunk, pixels, strict=True)
                ]
            )
            with torch.no_grad():
                logits = model(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    pixel_values=batch["pixel_values"],
                ).logits
            yield view, logits[:, :-1].argmax(-1), batch["labels"][:, 1:]


def _word_kinds(tokenizer, world: ToyWorldConfig) -> dict[int, str]:
    """Token id -> "shape" | "colour" for the names that are one token (as in " circle")."""
    kinds = {}
    for kind, names in (("shape", world.shapes), ("colour", world.colours)):
        for name in names:
            ids = tokenizer.encode(" " + name, add_special_tokens=False)
            if len(ids) == 1:
                kinds[ids[0]] = kind
    return kinds


def _caption_record(caption: str) -> dict:
    return {
        "image": "held-out",
        "conversations": [
            {"from": "human", "value": f"<image>\n{CAPTION_PROMPT}"},
            {"from": "gpt", "value": caption},
        ],
    }
