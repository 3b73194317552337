"""The world's pretraining corpus: what ToyWorld's "web" holds, for the foundation models.

LLaVA-1.5 starts from a CLIP tower pretrained on web image-text pairs and a language model
pretrained on web text; ToyWorld's foundation models (training/foundation/) start from this
corpus. It is drawn with its own seed (never the pool's or the benchmarks' draws) and a flat
concept law: every shape, colour and combination equally likely, no planted co-occurrence,
so the foundation models know every concept and the instruction pool's long tail is the
pool's alone. Each scene comes with its caption (stage 0's contrastive text, stage 1's
target), a few questions of every skill in the pool's phrasings (the language model's
text), and its objects (stage 0's dense attribute targets). Stage 1 also reads questions of
a few skills asked of their own scenes, with the image (`grounded_questions`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from toyworld.concepts import rng_for
from toyworld.config import ToyWorldConfig
from toyworld.pool import PoolSample, Turn
from toyworld.sampler import WorldSampler
from toyworld.scene import Scene
from toyworld.skills import PHRASINGS, QA, ask, caption_of
from toyworld.textonly import ask_text

CORPUS_PURPOSE = "pretraining-corpus"


@dataclass(frozen=True)
class CorpusItem:
    scene: Scene
    caption: str
    turns: tuple[Turn, ...]  # questions about the scene in the pool's phrasings

    def conversations(self) -> list[dict[str, str]]:
        """The questions as LLaVA turns, without the image (the language model's text)."""
        return PoolSample(scene=None, turns=self.turns).conversations()


def flat_law(cfg: ToyWorldConfig) -> ToyWorldConfig:
    """The world with every concept equally likely and objects placed independently."""
    return dataclasses.replace(
        cfg, shape_zipf=0.0, colour_zipf=0.0, combination_zipf=0.0, cooccurrence_affinity=0.0
    )


def sample_corpus(cfg: ToyWorldConfig, size: int, split: str = "train") -> list[CorpusItem]:
    """`size` captioned scenes with questions; `split` names an independent draw (e.g. a
    held-out one for checking the foundation models)."""
    sampler = WorldSampler(flat_law(cfg))
    rng = rng_for(cfg.seed, f"{CORPUS_PURPOSE}/{split}")
    items = []
    for _ in range(size):
        scene = sampler.scene(rng)
        items.append(CorpusItem(scene, caption_of(scene), _questions(sampler, scene, rng)))
    return items


def text_only_conversations(cfg: ToyWorldConfig, size: int) -> list[list[dict[str, str]]]:
    """Text-only questions (shape facts, colour mixing, sums) of the world, one turn each."""
    sampler = WorldSampler(flat_law(cfg))
    rng = rng_for(cfg.seed, f"{CORPUS_PURPOSE}/text")
    conversations = []
    for _ in range(size):
        turn = Turn(ask_text(rng, sampler.vocabulary), short=bool(rng.random() < 0.5))
        conversations.append(PoolSample(scene=None, turns=(turn,)).conversations())
    return conversations


def grounded_questions(
    cfg: ToyWorldConfig, skill: str, size: int, split: str = "train"
) -> list[tuple[Scene, Turn]]:
    """`size` scenes of the flat law, each with one `skill` question about it in the pool's
    phrasings (existence: half about an object it does not hold, drawn as the pool draws its
    absent objects): stage 1's grounded questions. Their own draw per skill and `split`, apart
    from the captions'."""
    if skill not in PHRASINGS:
        raise ValueError(f"grounded questions: unknown skill {skill!r}; one of {sorted(PHRASINGS)}")
    sampler = WorldSampler(flat_law(cfg))
    rng = rng_for(cfg.seed, f"{CORPUS_PURPOSE}/{skill}/{split}")
    questions: list[tuple[Scene, Turn]] = []
    while len(questions) < size:
        scene = sampler.scene(rng)
        qa = _ask_about(sampler, scene, skill, rng)
        if qa is not None:
            questions.append((scene, Turn(qa, short=bool(rng.random() < 0.5))))
    return questions


def _questions(sampler: WorldSampler, scene: Scene, rng: np.random.Generator) -> tuple[Turn, ...]:
    turns = []
    for skill in PHRASINGS:
        qa = _ask_about(sampler, scene, skill, rng)
        if qa is not None:
            turns.append(Turn(qa, short=bool(rng.random() < 0.5)))
    order = rng.permutation(len(turns))
    return tuple(turns[int(i)] for i in order[:3])


def _ask_about(
    sampler: WorldSampler, scene: Scene, skill: str, rng: np.random.Generator
) -> QA | None:
    """One `skill` question about a random object of `scene` (None where the scene cannot
    answer it, e.g. a colour two of its objects share)."""
    target = scene.objects[int(rng.integers(len(scene.objects)))]
    asks_absent = skill == "existence" and rng.random() < 0.5
    absent = sampler.absent_name(scene, rng) if asks_absent else None
    phrasing = sampler.phrasing(skill, rng)
    return ask(skill, phrasing, scene, target, rng, sampler.vocabulary, absent)


# The world settings the corpus depends on (the pool's size, laws and skills do not).
CORPUS_FIELDS = (
    "seed",
    "image_size",
    "shapes",
    "colours",
    "companions_per_object",
    "object_count_weights",
    "large_fraction",
    "small_object_fraction",
    "large_object_fraction",
    "background_noise",
    "texture_fraction",
    "phrasing_zipf",
)


def corpus_config(cfg: ToyWorldConfig) -> dict[str, object]:
    return {name: getattr(cfg, name) for name in CORPUS_FIELDS}
