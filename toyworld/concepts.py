"""Concepts (shapes, colours, sizes) and the long-tailed law that draws them.

An object concept is a (shape, colour) pair; its ADR object entity is "colour shape".
P(shape, colour) is a product of three Zipf factors: the shape's rank, the colour's rank
and the colour's rank in the shape's own preference list (the colour list rotated by the
shape's rank), so shapes, colours and their combinations are all long-tailed. Scenes draw
further objects as companions of objects already present, which makes some pairs
co-occur far more often than independence would: the co-occurrence long tail.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

SHAPE_PLURALS: dict[str, str] = {
    "circle": "circles",
    "square": "squares",
    "triangle": "triangles",
    "star": "stars",
    "cross": "crosses",
    "diamond": "diamonds",
    "heart": "hearts",
    "ring": "rings",
    "moon": "moons",
    "arrow": "arrows",
    "hexagon": "hexagons",
    "pentagon": "pentagons",
}
SHAPE_NAMES = tuple(SHAPE_PLURALS)

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "blue": (40, 90, 235),
    "green": (34, 177, 76),
    "yellow": (245, 222, 35),
    "white": (240, 240, 240),
    "purple": (145, 60, 205),
    "orange": (250, 140, 20),
    "pink": (250, 135, 195),
    "cyan": (40, 215, 225),
    "brown": (150, 92, 40),
    "gray": (135, 135, 135),
    "lime": (170, 240, 60),
}


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """An independent generator per purpose, so adding a draw in one place never shifts
    the draws of another."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]))


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised rank^-exponent for ranks 1..n."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


@dataclass(frozen=True)
class Concept:
    shape: str
    colour: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


class ConceptModel:
    """The world's object distribution and co-occurrence structure."""

    def __init__(
        self,
        shapes: list[str],
        colours: list[str],
        shape_zipf: float,
        colour_zipf: float,
        combination_zipf: float,
        cooccurrence_affinity: float,
        companions_per_object: int,
        cooccurrence_zipf: float,
        rng: np.random.Generator,
    ) -> None:
        self.shapes = list(shapes)
        self.colours = list(colours)
        self.concepts = [Concept(shape, colour) for shape in shapes for colour in colours]
        self.index = {concept.name: i for i, concept in enumerate(self.concepts)}

        shape_w = zipf_weights(len(shapes), shape_zipf)
        colour_w = zipf_weights(len(colours), colour_zipf)
        preference_w = zipf_weights(len(colours), combination_zipf)
        weights = np.empty(len(self.concepts))
        for s, _ in enumerate(shapes):
            for c, _ in enumerate(colours):
                preference_rank = (c - s) % len(colours)
                weights[s * len(colours) + c] = (
                    shape_w[s] * colour_w[c] * preference_w[preference_rank]
                )
        self.probabilities = weights / weights.sum()

        self.affinity = cooccurrence_affinity
        k = min(companions_per_object, len(self.concepts) - 1)
        self.companion_weights = zipf_weights(k, cooccurrence_zipf)
        self.companions = np.empty((len(self.concepts), k), dtype=np.int64)
        for i in range(len(self.concepts)):
            others = self.probabilities.copy()
            others[i] = 0.0
            self.companions[i] = rng.choice(
                len(others), size=k, replace=False, p=others / others.sum()
            )

    @property
    def names(self) -> list[str]:
        return [concept.name for concept in self.concepts]

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.concepts), p=self.probabilities))

    def sample_uniform(self, rng: np.random.Generator) -> int:
        return int(rng.integers(len(self.concepts)))

    def sample_companion(self, of: int, rng: np.random.Generator) -> int:
        return int(
            self.companions[of][rng.choice(len(self.companion_weights), p=self.companion_weights)]
        )

    def sample_scene_concepts(
        self, count: int, rng: np.random.Generator, first: int | None = None
    ) -> list[int]:
        """Concept indices for one scene: the first by the marginal law (or given), each
        further one a companion of an object already present with probability affinity."""
        chosen = [self.sample(rng) if first is None else first]
        while len(chosen) < count:
            if rng.random() < self.affinity:
                anchor = chosen[int(rng.integers(len(chosen)))]
                chosen.append(self.sample_companion(anchor, rng))
            else:
                chosen.append(self.sample(rng))
        return chosen

    def holders_of(self, concept: int) -> list[int]:
        """Concepts that list `concept` among their companions (POPE's adversarial pool)."""
        return [i for i in range(len(self.concepts)) if concept in self.companions[i]]

    def design_head(self, mass: float) -> set[int]:
        """The most probable concepts that together hold `mass` of the designed law."""
        order = np.argsort(-self.probabilities, kind="stable")
        cumulative = np.cumsum(self.probabilities[order])
        size = int(np.searchsorted(cumulative, mass)) + 1
        return {int(i) for i in order[:size]}
