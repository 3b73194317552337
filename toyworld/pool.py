"""The training pool: multi-turn LLaVA conversations about scenes, text-only samples, and
planted redundancy in the head (near-duplicates and template duplicates)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.data.messages import IMAGE_TOKEN
from toyworld.concepts import rng_for
from toyworld.entities import sample_entities
from toyworld.sampler import WorldSampler
from toyworld.scene import Scene, lay_out, sample_background, shifted
from toyworld.skills import QA, ask
from toyworld.textonly import ask_text


@dataclass(frozen=True)
class Turn:
    qa: QA
    short: bool  # the prompt carries the short-answer instruction


@dataclass(frozen=True)
class PoolSample:
    scene: Scene | None  # None for text-only samples
    turns: tuple[Turn, ...]
    duplicate_of: int | None = None  # position of the source in the unshuffled list
    duplicate_kind: str | None = None  # "near" | "template"

    def conversations(self) -> list[dict[str, str]]:
        messages = []
        for i, turn in enumerate(self.turns):
            prompt = turn.qa.prompt(turn.short)
            if i == 0 and self.scene is not None:
                prompt = f"{IMAGE_TOKEN}\n{prompt}"
            messages.append({"from": "human", "value": prompt})
            messages.append({"from": "gpt", "value": turn.qa.answer(turn.short)})
        return messages

    @property
    def skills(self) -> list[str]:
        return [turn.qa.skill for turn in self.turns]

    def entities(self) -> dict[str, list[str]]:
        return sample_entities(
            texts=[message["value"] for message in self.conversations()],
            object_names=self.scene.names if self.scene is not None else [],
            interrogations=[turn.qa.interrogation for turn in self.turns],
        )


def _visual_turns(
    sampler: WorldSampler, scene: Scene, rng: np.random.Generator
) -> tuple[Turn, ...]:
    wanted = sampler.turn_count(rng)
    turns: list[Turn] = []
    asked: set[str] = set()
    for _ in range(30 * wanted):
        if len(turns) == wanted:
            break
        skill = sampler.skill(rng)
        target = scene.objects[int(rng.integers(len(scene.objects)))]
        absent = None
        if skill == "existence" and rng.random() < 0.5:
            absent = sampler.absent_name(scene, rng)
        qa = ask(
            skill, sampler.phrasing(skill, rng), scene, target, rng, sampler.vocabulary, absent
        )
        if qa is None or qa.question in asked:
            continue
        asked.add(qa.question)
        turns.append(Turn(qa, short=bool(rng.random() < sampler.cfg.short_answer_fraction)))
    if not turns:  # only reachable with a skill list of unaskable skills; caption always works
        turns.append(
            Turn(ask("caption", 0, scene, scene.objects[0], rng, sampler.vocabulary), short=True)
        )
    return tuple(turns)


def _text_turns(sampler: WorldSampler, rng: np.random.Generator) -> tuple[Turn, ...]:
    wanted = sampler.turn_count(rng)
    turns: dict[str, Turn] = {}
    for _ in range(30 * wanted):
        if len(turns) == wanted:
            break
        qa = ask_text(rng, sampler.vocabulary)
        turns.setdefault(
            qa.question, Turn(qa, short=bool(rng.random() < sampler.cfg.short_answer_fraction))
        )
    return tuple(turns.values())


def _is_head_scene(scene: Scene | None, head_names: set[str]) -> bool:
    return scene is not None and all(name in head_names for name in scene.names)


def _template_duplicate(
    sampler: WorldSampler, source: Scene, rng: np.random.Generator
) -> Scene | None:
    """The same objects (same sizes) laid out anew on a new background."""
    specs = [(obj.shape, obj.colour, obj.size) for obj in source.objects]
    for _ in range(10):
        objects = lay_out(specs, sampler.cfg.image_size, sampler.side_px, rng)
        if objects is not None:
            level, texture, render_seed = sample_background(rng, sampler.cfg.texture_fraction)
            return Scene(objects, level, texture, render_seed)
    return None


def sample_pool(sampler: WorldSampler) -> list[PoolSample]:
    """All pool samples in their final order; duplicate_of points into this list."""
    cfg = sampler.cfg
    n_text = round(cfg.text_only_fraction * cfg.pool_size)
    n_near = round(cfg.near_duplicate_fraction * cfg.pool_size)
    n_template = round(cfg.template_duplicate_fraction * cfg.pool_size)
    n_base = cfg.pool_size - n_text - n_near - n_template

    rng = rng_for(cfg.seed, "pool")
    samples: list[PoolSample] = []
    for _ in range(n_base):
        scene = sampler.scene(rng)
        samples.append(PoolSample(scene, _visual_turns(sampler, scene, rng)))
    samples.extend(PoolSample(None, _text_turns(sampler, rng)) for _ in range(n_text))

    samples.extend(_duplicates(sampler, samples, n_near, n_template))
    order = rng_for(cfg.seed, "order").permutation(len(samples))
    position = {int(old): new for new, old in enumerate(order)}
    return [
        PoolSample(
            sample.scene,
            sample.turns,
            None if sample.duplicate_of is None else position[sample.duplicate_of],
            sample.duplicate_kind,
        )
        for sample in (samples[int(old)] for old in order)
    ]


def _duplicates(
    sampler: WorldSampler, samples: list[PoolSample], n_near: int, n_template: int
) -> list[PoolSample]:
    cfg = sampler.cfg
    rng = rng_for(cfg.seed, "duplicates")
    head_names = {
        sampler.model.concepts[i].name for i in sampler.model.design_head(cfg.duplicate_head_mass)
    }
    head = [i for i, s in enumerate(samples) if _is_head_scene(s.scene, head_names)]
    # Spatial answers depend on the layout, which a template duplicate changes.
    no_spatial = [i for i in head if "spatial" not in samples[i].skills]
    copies: list[PoolSample] = []
    for kind, count, candidates in (("near", n_near, head), ("template", n_template, no_spatial)):
        if count and not candidates:
            raise ValueError(
                f"no head samples to duplicate for {kind}-duplicates; raise duplicate_head_mass "
                f"(now {cfg.duplicate_head_mass}) or pool_size"
            )
        # With replacement: some head samples get several copies, as in real pools.
        for source in rng.choice(candidates, size=count, replace=True) if count else []:
            original = samples[int(source)]
            assert original.scene is not None
            scene = None
            if kind == "template":
                scene = _template_duplicate(sampler, original.scene, rng)
            if scene is None:
                scene = shifted(original.scene, cfg.jitter_px, rng, cfg.image_size)
            copies.append(PoolSample(scene, original.turns, int(source), kind))
    return copies
