"""Parameters of decontamination (configs/decontaminate/<name>.yaml + key=value overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.compose import choice

KINDS = ("exact", "near", "text")


@dataclass
class NearConfig:
    """A near-duplicate image: the perceptual hashes differ in at most `max_hamming` of 64
    bits AND, with both images resized to side x side RGB, some shift of up to `max_shift`
    px leaves a mean absolute pixel difference (0-255) of at most `max_pixel_difference`."""

    max_hamming: int = 10
    max_pixel_difference: float = 6.0
    max_shift: int = 2
    side: int = 16


@dataclass
class TextConfig:
    """A question leak: at least `min_overlap` of a benchmark question's word `ngram`-grams
    occur in the record's human turns (lowercased, punctuation stripped). Sentences that
    recur in a task's questions (instruction lines, fixed stems) are no evidence: a sentence
    in at least max(boilerplate_min_count, boilerplate_share x questions) of one task's
    questions is left out before the n-grams are taken."""

    ngram: int = 13
    min_overlap: float = 0.5
    fields: list[str] = field(default_factory=lambda: ["question"])  # benchmark text columns
    boilerplate_share: float = 0.05
    boilerplate_min_count: int = 3


@dataclass
class DecontaminateConfig:
    """Which benchmarks a pool is checked against, and how."""

    suite: str = ""  # configs/evaluation/<suite>.yaml; in a sweep "" turns decontamination off
    # local parquet copies of the suite's tasks, found as evaluation finds them
    # (<data_root>/<task.data_files>); a ToyWorld suite: the world's directory
    data_root: str = ""
    only: list[str] = field(default_factory=list)  # check just these tasks of the suite
    missing: str = choice("raise", ("raise", "skip"))  # a task with no local data under data_root
    kinds: list[str] = field(default_factory=lambda: list(KINDS))  # the checks to run
    near: NearConfig = field(default_factory=NearConfig)
    text: TextConfig = field(default_factory=TextConfig)
    id_fields: list[str] = field(default_factory=lambda: ["id", "question_id", "index"])
    examples: int = 5  # matches shown per task and kind in the report
    batch_rows: int = 256  # benchmark rows decoded at a time (streamed, never a whole task)
    progress: bool = True


def check_config(cfg: DecontaminateConfig) -> None:
    """One ConfigError line naming the key, for values the schema's types let through."""
    from configs.compose import ConfigError

    unknown = [kind for kind in cfg.kinds if kind not in KINDS]
    if unknown or not cfg.kinds:
        raise ConfigError(f"kinds={cfg.kinds}: choose among {', '.join(KINDS)}")
    checks = (
        ("near.max_hamming", 0 <= cfg.near.max_hamming <= 64, "must lie in 0..64"),
        ("near.max_pixel_difference", cfg.near.max_pixel_difference >= 0, "must be >= 0"),
        ("near.max_shift", 0 <= cfg.near.max_shift < cfg.near.side // 2, "must lie in 0..side/2"),
        ("near.side", cfg.near.side >= 8, "must be at least 8"),
        ("text.ngram", cfg.text.ngram >= 1, "must be at least 1"),
        ("text.min_overlap", 0 < cfg.text.min_overlap <= 1, "must lie in (0, 1]"),
        ("text.fields", bool(cfg.text.fields), "must name at least one column"),
        ("text.boilerplate_share", 0 < cfg.text.boilerplate_share <= 1, "must lie in (0, 1]"),
        ("text.boilerplate_min_count", cfg.text.boilerplate_min_count >= 2, "must be >= 2"),
        ("examples", cfg.examples >= 0, "must be >= 0"),
        ("batch_rows", cfg.batch_rows >= 1, "must be at least 1"),
    )
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{key}: {rule}")
