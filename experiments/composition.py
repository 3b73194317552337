"""What a subset is made of: skills and object concepts, counted over its records.

ToyWorld records carry their skills per human turn (`skills`) and the world's entities.jsonl
their ground-truth objects; for other pools the counts that cannot be known are left empty.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np


def subset_composition(subset_dir: str | Path, world_dir: str | Path | None) -> dict[str, Counter]:
    subset_dir = Path(subset_dir)
    records = json.loads((subset_dir / "subset.json").read_text(encoding="utf-8"))
    skills: Counter = Counter()
    for record in records:
        skills.update(record.get("skills", []) or (["text"] if "image" not in record else []))
    objects: Counter = Counter()
    entities = Path(world_dir) / "entities.jsonl" if world_dir else None
    if entities is not None and entities.is_file():
        by_position = _object_rows(entities)
        indices = np.load(subset_dir / "indices.npy", allow_pickle=False)
        for position in indices.tolist():
            objects.update(by_position[position])
    return {"skill": skills, "object": objects}


def concept_entropy(counts: Counter) -> float:
    """Shannon entropy (bits) of a count table: higher = spread over more concepts."""
    total = sum(counts.values())
    if not total:
        return 0.0
    p = np.array([c / total for c in counts.values() if c > 0])
    return float(-(p * np.log2(p)).sum())


def _object_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line).get("object", []) for line in handle if line.strip()]


def composition_summary(composition: dict[str, Counter]) -> dict[str, Any]:
    return {
        f"{kind}_entropy_bits": round(concept_entropy(counts), 4)
        for kind, counts in composition.items()
        if counts
    } | {f"n_{kind}s": len(counts) for kind, counts in composition.items() if counts}
