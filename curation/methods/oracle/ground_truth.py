"""What each ToyWorld record teaches, from the world's ground truth: the (concept, skill) cells.

A record's skills are the question families of its turns (the pool record's `skills`, written
by `vlmdata toyworld make`); its concepts are the "colour shape" objects of its scene (the
`object` perspective of the world's entities.jsonl; none for a text-only record). The pool does
not say which object each question is about, so a record covers every (concept, skill) pair of
its scene and turns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from configs.errors import UserError

ENTITIES = "entities.jsonl"
NO_OBJECT = ""  # the concept of a text-only record's cells


class GroundTruthError(UserError, ValueError):
    """A record without ToyWorld ground truth (the oracle is ToyWorld-only)."""


Cell = tuple[str, str]  # (concept, skill)


def entities_path(pool_path: Path, given: str) -> Path:
    return Path(given) if given else pool_path.parent / ENTITIES


def read_objects(path: Path) -> dict[str, list[str]]:
    """Record id -> the concepts of its scene, from a ToyWorld entities.jsonl."""
    objects: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            concepts = row.get("object") if isinstance(row, dict) else None
            if not isinstance(concepts, list) or "id" not in row:
                raise GroundTruthError(
                    f"{path}:{number}: not a ToyWorld entities row "
                    "(a JSON object with 'id' and an 'object' list)"
                )
            objects[str(row["id"])] = [str(concept) for concept in concepts]
    return objects


def record_cells(
    records: Sequence[Mapping[str, Any]], pool_path: Path, entities: str = ""
) -> list[list[Cell]]:
    """The cells of every record, in pool order; GroundTruthError names the first record
    without ground truth."""
    path = entities_path(pool_path, entities)
    objects = read_objects(path) if path.is_file() else {}
    cells = []
    for position, record in enumerate(records):
        skills = record.get("skills")
        concepts = objects.get(str(record.get("id")))
        if not isinstance(skills, list) or not skills or concepts is None:
            if not isinstance(skills, list) or not skills:
                missing = "no 'skills' list in the record"
            else:
                missing = f"no row in {path}" if path.is_file() else f"no {path}"
            raise GroundTruthError(
                f"record {record.get('id')!r} (position {position}) has no ToyWorld ground "
                f"truth ({missing}): method=oracle needs a ToyWorld pool"
            )
        distinct = sorted(set(concepts)) or [NO_OBJECT]
        cells.append([(c, str(s)) for c in distinct for s in sorted(set(skills))])
    return cells
