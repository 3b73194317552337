"""What a run trains on: a subset directory, or a LLaVA JSON/JSONL file + image root."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from configs.compose import ConfigError
from configs.errors import InputNotADirectoryError, InputNotFoundError
from curation.data.limits import RecordLimits
from curation.data.records import Problem, RecordError, RecordRules, load_records
from curation.data.subset import RECORDS, read_subset, subset_image_root, work_dir
from training.encode import UNSUPERVISED_REASONS, ConversationEncoder, UnsupervisedRecordError

log = logging.getLogger(__name__)


@dataclass
class TrainingInputs:
    records: list[dict[str, Any]]
    positions: np.ndarray  # positions of `records` in `records_path`
    records_path: Path
    image_root: Path
    skipped: dict[str, int]  # reason -> count of records left out (on_error=skip)
    n_read: int
    pool_path: Path | None = None  # the pool a subset was drawn from


def resolve_inputs(
    subset: str = "", records: str = "", image_root: str = ""
) -> tuple[Path, Path, Path | None]:
    """(records file, image root, pool file or None). The image root is `image_root` when
    given; else a subset's is the one its manifest names (curation.data.subset:
    subset_image_root), or its pool's folder (ToyWorld's layout); a records file's is its own
    folder."""
    if bool(subset) == bool(records):
        raise ConfigError("give exactly one of subset=DIR or records=PATH (with image_root=DIR)")
    pool_path = None
    if subset:
        found = read_subset(subset)
        records_path = found.records_path
        pool = found.manifest.get("pool", {}).get("path")
        pool_path = Path(str(pool)) if pool else None
        default_root = subset_image_root(found) or (pool_path or records_path).parent
    else:
        records_path = Path(records)
        if not records_path.is_file():
            raise InputNotFoundError(f"records={records}: no such file")
        default_root = records_path.parent
    return records_path, Path(image_root) if image_root else default_root, pool_path


def record_rules(
    records_path: Path, image_paths: str = "inside", limits: RecordLimits | None = None
) -> RecordRules:
    """The rules a run's records are held to. A subset's records may also name its synthetic
    images by absolute path inside curation's work folder beside the subset."""
    own = (str(work_dir(records_path.parent)),) if records_path.name == RECORDS else ()
    return RecordRules(image_paths, limits or RecordLimits(), own)


def load_training_inputs(
    subset: str = "",
    records: str = "",
    image_root: str = "",
    on_error: str = "raise",
    verify_images: bool = True,
    progress: bool = False,
    image_paths: str = "inside",
    limits: RecordLimits | None = None,
) -> TrainingInputs:
    """The valid records of the run's input, in file order.

    With `verify_images` every image is opened once here, so a missing or corrupt file stops
    the run before training (on_error=raise) or is counted and left out (on_error=skip).
    Image paths and record sizes are checked always (`record_rules`).
    """
    records_path, root, pool_path = resolve_inputs(subset, records, image_root)
    if not root.is_dir():
        raise InputNotADirectoryError(f"image root is not a directory: {root}")
    result = load_records(
        records_path,
        image_root=root if verify_images else None,
        on_error=on_error,
        progress=progress,
        rules=record_rules(records_path, image_paths, limits),
    )
    if not result.records:
        raise ConfigError(
            f"{records_path}: no valid records to train on "
            f"({result.n_read} read, skipped: {result.skipped or 'none'})"
        )
    return TrainingInputs(
        result.records,
        result.positions,
        records_path,
        root,
        result.skipped,
        result.n_read,
        pool_path,
    )


def screen_unsupervised(
    inputs: TrainingInputs, encoder: ConversationEncoder, on_error: str = "raise"
) -> TrainingInputs:
    """`inputs` without the records LLaVA-1.5 would train on with every label masked
    (training.encode: UNSUPERVISED_REASONS), each counted under its reason in `skipped`
    (on_error=skip), or a RecordError naming the first of them (on_error=raise)."""
    kept, positions, counts = [], [], Counter()
    for record, position in zip(inputs.records, inputs.positions, strict=True):
        try:
            encoder.screen(record)
        except UnsupervisedRecordError as exc:
            if on_error != "skip":
                problem = Problem(exc.reason, exc.detail)
                raise RecordError(
                    inputs.records_path, int(position), record["id"], problem
                ) from None
            counts[exc.reason] += 1
            continue
        kept.append(record)
        positions.append(position)
    if not counts:
        return inputs
    found = {reason: counts[reason] for reason in UNSUPERVISED_REASONS if counts[reason]}
    log.warning(
        "%s: skipped %d records LLaVA-1.5 would train on with no supervision: %s",
        inputs.records_path,
        sum(counts.values()),
        found,
    )
    if not kept:
        raise ConfigError(
            f"{inputs.records_path}: no records left to train on after skipping those LLaVA-1.5 "
            f"would train on with no supervision ({found})"
        )
    return replace(
        inputs,
        records=kept,
        positions=np.array(positions, dtype=np.int64),
        skipped={**inputs.skipped, **found},
    )
