"""Held-out benchmarks: one per skill, balanced over concepts, labelled head/tail by the
ADR rule against the pool's entity counts.

Each candidate item is built around a target concept drawn UNIFORMLY (not by pool
frequency); the other objects of its scene follow the pool's own laws, so head and tail
items see the same kind of scene. Candidates are then accepted into head and tail quotas
(benchmark_tail_fraction); when one side cannot be filled within a generous number of
draws the rest is accepted as it comes, and the shortfall shows in the reported fractions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from curation.data.longtail import LongTailRule
from toyworld.concepts import rng_for
from toyworld.entities import sample_entities
from toyworld.render import render_png
from toyworld.sampler import WorldSampler
from toyworld.scene import Scene
from toyworld.skills import PHRASINGS, QA, ask

_DRAWS_PER_ITEM = 200


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    png: bytes
    qa: QA
    entities: dict[str, list[str]]
    longtail: str  # "head" | "tail"
    scene: Scene  # what `png` draws (not in the benchmark file; planted leaks reuse it)

    def row(self) -> dict:
        return {
            "id": self.id,
            "image": {"bytes": self.png, "path": f"{self.id}.png"},
            "question": self.qa.prompt(short=True),
            "answer": self.qa.reference,
            "answer_type": self.qa.answer_type,
            "keywords": list(self.qa.keywords),
            "skill": self.qa.skill,
            "longtail": self.longtail,
            "concepts": self.entities["object"],
        }


def item_entities(scene: Scene, qa: QA) -> dict[str, list[str]]:
    return sample_entities(
        texts=[qa.prompt(short=True), qa.reference],
        object_names=scene.names,
        interrogations=[qa.interrogation],
    )


def _candidate(
    skill: str, position: int, sampler: WorldSampler, rng: np.random.Generator
) -> tuple[Scene, QA | None]:
    model = sampler.model
    target = model.sample_uniform(rng)
    phrasing = int(rng.integers(len(PHRASINGS[skill])))
    count = sampler.object_count(rng)
    if skill == "spatial":
        count = max(2, count)
    if skill == "existence" and position % 2 == 1:  # every other item: an absent object
        holders = model.holders_of(target)
        anchor = (
            holders[int(rng.integers(len(holders)))] if holders and rng.random() < 0.5 else None
        )
        scene = sampler.scene(rng, first=anchor, count=count)
        name = model.concepts[target].name
        return scene, ask(
            skill, phrasing, scene, scene.objects[0], rng, sampler.vocabulary, absent=name
        )
    if skill == "counting":
        scene = _counting_scene(sampler, target, phrasing, rng)
    else:
        scene = sampler.scene(rng, first=target, count=count)
    return scene, ask(skill, phrasing, scene, scene.objects[0], rng, sampler.vocabulary)


def _counting_scene(
    sampler: WorldSampler, target: int, phrasing: int, rng: np.random.Generator
) -> Scene:
    """A scene whose answer (1-4) is drawn uniformly, so no count dominates the benchmark."""
    concepts = sampler.model.concepts
    text = PHRASINGS["counting"][phrasing].text
    if "{plural}" in text:
        counted = np.array([c.shape == concepts[target].shape for c in concepts])
    elif "{colour}" in text:
        counted = np.array([c.colour == concepts[target].colour for c in concepts])
    else:
        counted = np.ones(len(concepts), dtype=bool)
    answer = int(rng.integers(1, 5))
    total = answer if counted.all() else int(rng.integers(answer, 5))
    chosen = [target]
    chosen += [sampler.concept_where(counted, rng) for _ in range(answer - 1)]
    chosen += [sampler.concept_where(~counted, rng) for _ in range(total - answer)]
    return sampler.scene_of(chosen, rng)


def make_benchmark(
    skill: str,
    sampler: WorldSampler,
    rule: LongTailRule,
    pool_image_hashes: set[str],
    on_item: Callable[[], None] = lambda: None,
) -> list[BenchmarkItem]:
    cfg = sampler.cfg
    rng = rng_for(cfg.seed, f"benchmark/{skill}")
    size = cfg.benchmark_items_per_skill
    quota = {"tail": round(size * cfg.benchmark_tail_fraction)}
    quota["head"] = size - quota["tail"]
    taken = {"head": 0, "tail": 0}
    items: list[BenchmarkItem] = []
    for draw in range(_DRAWS_PER_ITEM * size * 10):
        if len(items) == size:
            break
        scene, qa = _candidate(skill, len(items), sampler, rng)
        if qa is None:
            continue
        entities = item_entities(scene, qa)
        label = "tail" if rule.is_tail(entities) else "head"
        if taken[label] >= quota[label] and draw < _DRAWS_PER_ITEM * size:
            continue
        png = render_png(scene, cfg.image_size, cfg.background_noise)
        if hashlib.sha256(png).hexdigest() in pool_image_hashes:
            continue  # held out: never an image of the pool
        taken[label] += 1
        items.append(BenchmarkItem(f"tw-{skill}-{len(items):04d}", png, qa, entities, label, scene))
        on_item()
    if len(items) < size:
        raise RuntimeError(f"benchmark {skill}: built only {len(items)} of {size} items")
    return items
