"""Draws scenes, skills and phrasings by the world's laws; shared by the pool and the
benchmarks so that both see the same kind of scene."""

from __future__ import annotations

import numpy as np

from toyworld.concepts import ConceptModel, rng_for, zipf_weights
from toyworld.config import ToyWorldConfig
from toyworld.scene import Scene, lay_out_anywhere, object_side_px, sample_background
from toyworld.skills import PHRASINGS, Vocabulary

ABSENT_MODES = ("adversarial", "popular", "random")  # POPE's three negative samplers
_ABSENT_MODE_WEIGHTS = np.array([0.5, 0.25, 0.25])


def _normalised(weights: list[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=np.float64)
    return array / array.sum()


class WorldSampler:
    def __init__(self, cfg: ToyWorldConfig) -> None:
        self.cfg = cfg
        self.model = ConceptModel(
            shapes=cfg.shapes,
            colours=cfg.colours,
            shape_zipf=cfg.shape_zipf,
            colour_zipf=cfg.colour_zipf,
            combination_zipf=cfg.combination_zipf,
            cooccurrence_affinity=cfg.cooccurrence_affinity,
            companions_per_object=cfg.companions_per_object,
            cooccurrence_zipf=cfg.cooccurrence_zipf,
            rng=rng_for(cfg.seed, "companions"),
        )
        self.vocabulary = Vocabulary(tuple(cfg.shapes), tuple(cfg.colours))
        self.side_px = {
            size: object_side_px(
                size, cfg.image_size, cfg.small_object_fraction, cfg.large_object_fraction
            )
            for size in ("small", "large")
        }
        self.object_count_weights = _normalised(cfg.object_count_weights)
        self.turn_count_weights = _normalised(cfg.turn_count_weights)
        self.skill_weights = zipf_weights(len(cfg.skills), cfg.skill_zipf)
        self.phrasing_weights = {
            skill: zipf_weights(len(phrasings), cfg.phrasing_zipf)
            for skill, phrasings in PHRASINGS.items()
        }

    def object_count(self, rng: np.random.Generator) -> int:
        return 1 + int(rng.choice(len(self.object_count_weights), p=self.object_count_weights))

    def turn_count(self, rng: np.random.Generator) -> int:
        return 1 + int(rng.choice(len(self.turn_count_weights), p=self.turn_count_weights))

    def skill(self, rng: np.random.Generator) -> str:
        return self.cfg.skills[int(rng.choice(len(self.skill_weights), p=self.skill_weights))]

    def phrasing(self, skill: str, rng: np.random.Generator) -> int:
        weights = self.phrasing_weights[skill]
        return int(rng.choice(len(weights), p=weights))

    def scene_of(self, concepts: list[int], rng: np.random.Generator) -> Scene:
        specs = []
        for index in concepts:
            concept = self.model.concepts[index]
            size = "large" if rng.random() < self.cfg.large_fraction else "small"
            specs.append((concept.shape, concept.colour, size))
        objects = lay_out_anywhere(specs, self.cfg.image_size, self.side_px, rng)
        level, texture, render_seed = sample_background(rng, self.cfg.texture_fraction)
        return Scene(objects, level, texture, render_seed)

    def scene(
        self, rng: np.random.Generator, first: int | None = None, count: int | None = None
    ) -> Scene:
        count = self.object_count(rng) if count is None else count
        return self.scene_of(self.model.sample_scene_concepts(count, rng, first=first), rng)

    def concept_where(self, allowed: np.ndarray, rng: np.random.Generator) -> int:
        """A concept by the pool's law, restricted to a boolean mask over concepts."""
        weights = self.model.probabilities * allowed
        return int(rng.choice(len(weights), p=weights / weights.sum()))

    def absent_name(self, scene: Scene, rng: np.random.Generator, mode: str | None = None) -> str:
        """An object NOT in the scene; adversarial = a frequent companion of one that is."""
        present = {self.model.index[name] for name in scene.names}
        if mode is None:
            mode = ABSENT_MODES[int(rng.choice(len(ABSENT_MODES), p=_ABSENT_MODE_WEIGHTS))]
        if mode == "adversarial":
            candidates = sorted(
                {int(c) for i in present for c in self.model.companions[i]} - present
            )
            if candidates:
                return self.model.concepts[candidates[int(rng.integers(len(candidates)))]].name
        while True:
            index = self.model.sample(rng) if mode == "popular" else self.model.sample_uniform(rng)
            if index not in present:
                return self.model.concepts[index].name
