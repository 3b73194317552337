"""Root config schemas that the glue composes, and the schema of every config group.

Each stage owns the schema of its own parameters; this module only says which schema
describes which folder of configs/, so that every shipped YAML can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curation.config import CurationConfig
from experiments.config import choice
from toyworld.config import ToyWorldConfig


@dataclass
class DataConfig:
    """Where the pool comes from: a generated ToyWorld, or a LLaVA JSON/JSONL + image root."""

    kind: str = choice("toyworld", ("toyworld", "llava"))
    pool: str = ""  # kind=llava: the LLaVA JSON/JSONL; kind=toyworld: derived from toyworld.out_dir
    image_root: str = ""
    on_error: str = choice("raise", ("raise", "skip"))
    toyworld: ToyWorldConfig = field(default_factory=ToyWorldConfig)


# folder of configs/ -> schema of the YAML files in it
GROUP_SCHEMAS: dict[str, type] = {
    "data": DataConfig,
    "curation": CurationConfig,
}
