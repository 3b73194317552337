"""Schema of a curation run's config (configs/curation/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from configs.compose import choice

# What a run is to the comparison, beside its method: "" a compared arm; "aa" a second random
# arm drawn with other selection seeds (an A/A test: its difference to random must be noise);
# "oracle" a method that reads the world's ground truth (a positive control, not a method).
CONTROLS = ("", "aa", "oracle")


@dataclass
class CurationConfig:
    method: str = "random"
    # Fraction of the pool in (0, 1], or an absolute number of samples (> 1). None: the method
    # decides the size itself (e.g. ADR's rebalancing rule).
    budget: float | None = 0.2
    seed: int = 0
    # Method-specific parameters, checked against the method's own Params dataclass.
    params: Any = field(default_factory=dict)
    control: str = choice("", CONTROLS)
