"""ToyWorld's typed config: every knob of the synthetic world, with its default.

Flat on purpose, so that any field is one `key=value` override away on the command line.
configs/data/toyworld.yaml mirrors these defaults (a test keeps the two in sync).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SKILLS = ("colour", "shape", "counting", "existence", "spatial", "multiple_choice", "caption")
TEXT_SKILL = "text"


@dataclass
class ToyWorldConfig:
    out_dir: str = "outputs/toyworld"
    seed: int = 0
    image_size: int = 32
    pool_size: int = 4000

    # Concepts, listed in Zipf rank order (first = most frequent). Names must be known
    # to toyworld/concepts.py, which holds their drawings and RGB values.
    shapes: list[str] = field(
        default_factory=lambda: [
            "circle",
            "square",
            "triangle",
            "star",
            "cross",
            "diamond",
            "heart",
            "ring",
            "moon",
            "arrow",
        ]
    )
    colours: list[str] = field(
        default_factory=lambda: [
            "red",
            "blue",
            "green",
            "yellow",
            "white",
            "purple",
            "orange",
            "pink",
            "cyan",
            "brown",
        ]
    )
    shape_zipf: float = 1.2
    colour_zipf: float = 1.2
    # Each shape prefers its own colours: the colour list rotated by the shape's rank,
    # weighted rank^-combination_zipf (0 makes shape and colour independent).
    combination_zipf: float = 1.0
    # Objects that join a scene are, with probability cooccurrence_affinity, a companion
    # of an object already there: companions_per_object per object, Zipf-weighted.
    cooccurrence_affinity: float = 0.6
    companions_per_object: int = 4
    cooccurrence_zipf: float = 1.2

    # Scenes.
    object_count_weights: list[float] = field(default_factory=lambda: [0.3, 0.3, 0.25, 0.15])
    large_fraction: float = 0.5
    # object side / image side; at 32 px and patch 8, smaller shapes are not told apart by
    # the foundation CLIP (bench/RESULTS.md, "ToyWorld foundation models")
    small_object_fraction: float = 0.4
    large_object_fraction: float = 0.5
    background_noise: float = 6.0  # std of per-pixel noise, in 0-255 units
    texture_fraction: float = 0.3  # share of backgrounds with faint stripes/checks

    # Conversations.
    skills: list[str] = field(default_factory=lambda: list(SKILLS))  # Zipf rank order
    skill_zipf: float = 0.8
    phrasing_zipf: float = 2.0  # over each skill's phrasings (the question types)
    turn_count_weights: list[float] = field(default_factory=lambda: [0.5, 0.3, 0.2])
    short_answer_fraction: float = 0.8  # turns that carry "Answer ... single word or phrase."
    text_only_fraction: float = 0.05

    # Redundancy in the head (as VQA-style data in LLaVA-665K): copies of head samples.
    near_duplicate_fraction: float = 0.08  # same scene, jittered by jitter_px, fresh noise
    template_duplicate_fraction: float = 0.08  # same objects re-laid out, same conversation
    duplicate_head_mass: float = 0.5  # sources: samples whose objects are all in this mass
    jitter_px: int = 1

    # Held-out benchmarks, one per skill, balanced over concepts.
    benchmark_items_per_skill: int = 100
    benchmark_tail_fraction: float = 0.5  # target share of items the ADR rule calls tail

    # Planted benchmark leaks (toyworld/leaks.py), for testing decontamination: records made
    # from benchmark items, appended after the pool_size samples and listed in leaks.jsonl.
    leak_exact_images: int = 0  # the benchmark image itself
    leak_jittered_images: int = 0  # shifted by up to jitter_px, fresh background_noise
    leak_questions: int = 0  # a reworded benchmark question (of 13+ words), text-only

    # ADR long-tail mass per perspective (curation/methods/adr/README.md).
    q_token: float = 0.9
    q_object: float = 0.9
    q_co_occurrence: float = 0.75
    q_interrogation: float = 0.9

    def long_tail_q(self) -> dict[str, float]:
        return {
            "token": self.q_token,
            "object": self.q_object,
            "co_occurrence": self.q_co_occurrence,
            "interrogation": self.q_interrogation,
        }


def as_toyworld_config(cfg: Any) -> ToyWorldConfig:
    """Accept a ToyWorldConfig, an OmegaConf node or a plain mapping."""
    if isinstance(cfg, ToyWorldConfig):
        return cfg
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(cfg, dict):
        raise TypeError(f"expected a ToyWorldConfig or a mapping, got {type(cfg).__name__}")
    known = {f.name for f in dataclasses.fields(ToyWorldConfig)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(
            f"unknown ToyWorld config key(s) {', '.join(unknown)}; valid keys: "
            + ", ".join(sorted(known))
        )
    return ToyWorldConfig(**cfg)


def config_for_record(cfg: ToyWorldConfig) -> dict[str, Any]:
    """The resolved config as recorded in a world: everything except out_dir, so a world's
    bytes do not depend on where it is written."""
    recorded = dataclasses.asdict(cfg)
    recorded.pop("out_dir")
    return recorded


def validate_config(cfg: ToyWorldConfig) -> None:
    """One clear line per problem, raised as ConfigError (a ValueError)."""
    from configs.compose import ConfigError
    from toyworld.concepts import COLOUR_RGB, SHAPE_NAMES

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"toyworld.{key}: {message}")

    if cfg.seed < 0:
        fail("seed", f"must be >= 0, got {cfg.seed}")
    if cfg.image_size < 16:
        fail("image_size", f"must be at least 16 px, got {cfg.image_size}")
    if cfg.pool_size < 20:
        fail("pool_size", f"must be at least 20, got {cfg.pool_size}")
    for key, names, known in (
        ("shapes", cfg.shapes, SHAPE_NAMES),
        ("colours", cfg.colours, COLOUR_RGB),
    ):
        if len(names) < 4:
            fail(key, f"need at least 4, got {len(names)}")
        if len(set(names)) != len(names):
            fail(key, "contains duplicates")
        unknown = [name for name in names if name not in known]
        if unknown:
            fail(key, f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    unknown_skills = [s for s in cfg.skills if s not in SKILLS]
    if unknown_skills or not cfg.skills or len(set(cfg.skills)) != len(cfg.skills):
        fail("skills", f"must be distinct names among {', '.join(SKILLS)}, got {cfg.skills}")
    for key in ("object_count_weights", "turn_count_weights"):
        weights = getattr(cfg, key)
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            fail(key, f"must be non-negative weights with a positive sum, got {weights}")
    if len(cfg.object_count_weights) > 4:
        fail("object_count_weights", "scenes hold at most 4 objects (4 weights)")
    fractions = (
        "large_fraction",
        "texture_fraction",
        "short_answer_fraction",
        "text_only_fraction",
        "near_duplicate_fraction",
        "template_duplicate_fraction",
        "duplicate_head_mass",
        "cooccurrence_affinity",
        "benchmark_tail_fraction",
        "q_token",
        "q_object",
        "q_co_occurrence",
        "q_interrogation",
    )
    for key in fractions:
        value = getattr(cfg, key)
        if not 0.0 <= value <= 1.0:
            fail(key, f"must lie in [0, 1], got {value}")
    copies = cfg.text_only_fraction + cfg.near_duplicate_fraction
    if copies + cfg.template_duplicate_fraction >= 0.9:
        fail("text_only_fraction", "text-only plus duplicate fractions must stay below 0.9")
    if not 0.1 <= cfg.small_object_fraction <= cfg.large_object_fraction <= 0.5:
        fail(
            "large_object_fraction",
            "need 0.1 <= small_object_fraction <= large_object_fraction <= 0.5",
        )
    for key in (
        "shape_zipf",
        "colour_zipf",
        "combination_zipf",
        "cooccurrence_zipf",
        "skill_zipf",
        "phrasing_zipf",
        "background_noise",
    ):
        if getattr(cfg, key) < 0:
            fail(key, f"must be >= 0, got {getattr(cfg, key)}")
    if cfg.companions_per_object < 1:
        fail("companions_per_object", "must be at least 1")
    if not 0 <= cfg.jitter_px <= 2:
        fail(
            "jitter_px",
            f"must lie in 0..2 (relations must survive the jitter), got {cfg.jitter_px}",
        )
    if cfg.benchmark_items_per_skill < 2:
        fail("benchmark_items_per_skill", "must be at least 2")
    for key in ("leak_exact_images", "leak_jittered_images", "leak_questions"):
        if getattr(cfg, key) < 0:
            fail(key, f"must be >= 0, got {getattr(cfg, key)}")
