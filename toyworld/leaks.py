"""Planted benchmark leaks: pool records made from benchmark items, so that decontamination
has a known answer. Off by default (every leak_* count 0).

exact: the benchmark image, byte for byte, with a caption turn of its scene. near: the
benchmark image shifted by up to jitter_px (never by zero when jitter_px > 0; the border
repeats the edge) with fresh noise of background_noise, and its scene's caption. text: a
text-only record whose question is a benchmark question reworded (a lead-in sentence, the
first letter lowercased, the final punctuation and the instruction line replaced) with the
benchmark's answer. Only questions of at least LEAK_QUESTION_MIN_WORDS words are leaked:
ToyWorld's shorter questions are templates that the pool asks verbatim anyway, so no text
check could tell a leak of one from the pool's own questions.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from configs.compose import ConfigError
from toyworld.benchmarks import BenchmarkItem
from toyworld.concepts import rng_for
from toyworld.config import SKILLS, ToyWorldConfig
from toyworld.pool import PoolSample, Turn
from toyworld.render import png_bytes
from toyworld.sampler import WorldSampler
from toyworld.scene import Scene
from toyworld.skills import ask

LEAK_QUESTION_MIN_WORDS = 13
LEAD_IN = "Here is a question about a picture I saw."
REPLY = "Please reply briefly."


@dataclass(frozen=True)
class Leak:
    record: dict[str, Any]
    png: bytes | None  # the record's image, None for a text leak
    scene: Scene | None  # the objects as drawn in `png`
    entities: dict[str, list[str]]
    row: dict[str, str]  # leaks.jsonl: id, kind, benchmark (skill), item


def wants_leaks(cfg: ToyWorldConfig) -> bool:
    return bool(cfg.leak_exact_images or cfg.leak_jittered_images or cfg.leak_questions)


def plant_leaks(
    sampler: WorldSampler, benchmarks: dict[str, list[BenchmarkItem]], first_id: int
) -> list[Leak]:
    """The leak records, with ids tw-<first_id>, tw-<first_id + 1>, ... (after the pool's)."""
    cfg = sampler.cfg
    rng = rng_for(cfg.seed, "leaks")
    items = [item for skill in SKILLS for item in benchmarks.get(skill, [])]
    n_images = cfg.leak_exact_images + cfg.leak_jittered_images
    if n_images > len(items):
        raise ConfigError(
            f"toyworld.leak_exact_images + leak_jittered_images = {n_images}: the benchmarks "
            f"hold only {len(items)} items"
        )
    chosen = [items[int(i)] for i in rng.choice(len(items), size=n_images, replace=False)]
    taken = {item.id for item in chosen}
    long = [i for i in items if i.id not in taken and _long_enough(i)]
    if cfg.leak_questions > len(long):
        raise ConfigError(
            f"toyworld.leak_questions={cfg.leak_questions}: only {len(long)} benchmark questions "
            f"have at least {LEAK_QUESTION_MIN_WORDS} words (shorter ones are templates the "
            "pool asks anyway)"
        )
    chosen += [long[int(i)] for i in rng.choice(len(long), size=cfg.leak_questions, replace=False)]
    kinds = ["exact"] * cfg.leak_exact_images + ["near"] * cfg.leak_jittered_images
    kinds += ["text"] * cfg.leak_questions
    leaks = []
    for offset, (kind, item) in enumerate(zip(kinds, chosen, strict=True)):
        sample_id = f"tw-{first_id + offset:06d}"
        if kind == "text":
            leaks.append(_text_leak(sample_id, item))
        else:
            leaks.append(_image_leak(sample_id, kind, item, sampler, rng))
    return leaks


def _first_line(item: BenchmarkItem) -> str:
    return item.qa.question.split("\n", 1)[0]


def _long_enough(item: BenchmarkItem) -> bool:
    return len(re.findall(r"\w+", _first_line(item))) >= LEAK_QUESTION_MIN_WORDS


def _row(sample_id: str, kind: str, item: BenchmarkItem) -> dict[str, str]:
    return {"id": sample_id, "kind": kind, "benchmark": item.qa.skill, "item": item.id}


def _text_leak(sample_id: str, item: BenchmarkItem) -> Leak:
    question = _first_line(item).rstrip("?.!")
    reworded = f"{LEAD_IN} {question[:1].lower()}{question[1:]}\n{REPLY}"
    record = {
        "id": sample_id,
        "conversations": [
            {"from": "human", "value": reworded},
            {"from": "gpt", "value": item.qa.reference},
        ],
        "skills": [item.qa.skill],
    }
    entities = {**item.entities, "object": [], "co_occurrence": []}
    return Leak(record, None, None, entities, _row(sample_id, "text", item))


def _image_leak(
    sample_id: str,
    kind: str,
    item: BenchmarkItem,
    sampler: WorldSampler,
    rng: np.random.Generator,
) -> Leak:
    scene, png = item.scene, item.png
    if kind == "near":
        scene, png = _jittered(item, sampler.cfg, rng)
    caption = ask("caption", 0, scene, scene.objects[0], rng, sampler.vocabulary)
    sample = PoolSample(scene, (Turn(caption, short=True),))
    record = {
        "id": sample_id,
        "image": f"images/{sample_id}.png",
        "conversations": sample.conversations(),
        "skills": sample.skills,
    }
    return Leak(record, png, scene, sample.entities(), _row(sample_id, kind, item))


def _jittered(
    item: BenchmarkItem, cfg: ToyWorldConfig, rng: np.random.Generator
) -> tuple[Scene, bytes]:
    pixels = np.asarray(Image.open(io.BytesIO(item.png)).convert("RGB"), dtype=np.float32)
    reach = cfg.jitter_px
    dx = dy = 0
    while reach and dx == dy == 0:
        dx, dy = (int(v) for v in rng.integers(-reach, reach + 1, size=2))
    padded = np.pad(pixels, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    side = pixels.shape[0]
    shifted = padded[reach - dy : reach - dy + side, reach - dx : reach - dx + side]
    noisy = shifted + rng.normal(0.0, cfg.background_noise, size=shifted.shape)
    image = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    objects = tuple(replace(o, bbox=_moved(o.bbox, dx, dy, side)) for o in item.scene.objects)
    return replace(item.scene, objects=objects), png_bytes(image)


def _moved(bbox: tuple[int, int, int, int], dx: int, dy: int, side: int):
    x0, y0, x1, y1 = bbox
    return (max(0, x0 + dx), max(0, y0 + dy), min(side, x1 + dx), min(side, y1 + dy))
