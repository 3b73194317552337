"""CLIP-Score filtering (Hessel et al., 2021; the DataComp / ADR baseline).

Score: cosine between CLIP's image embedding and its embedding of the record's text (all
turns, or only the answers; truncated to the text tower's length; curation/features/clip.py).
Keep rule: the highest scores (params.band=high; low / middle also available).
Text-only records have no image to score: their score is NaN and they rank last, taken (in
pool order) only when the budget exceeds the number of image records. A multi-image record's
score is the mean over its images of the image-text cosine (the tiny CLIP trains on each of
its images paired with its text); a pool without one is scored exactly as before.
clip=tiny (ToyWorld): a tiny CLIP trained contrastively on the pool's own pairs, cached;
clip=openai/clip-vit-large-patch14-336 (or any CLIP directory) for real data, read offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from configs.compose import choice
from curation.data.fileio import sha256_json
from curation.data.records import record_images
from curation.features.clip import TEXT_MODES, TINY, TinyClipRecipe, clip_scores, resolve_clip
from curation.method import CurationContext, CurationMethod, Selection
from curation.methods.baselines.scoring import BANDS, band_details, select_band


@dataclass
class ClipScoreParams:
    clip: str = TINY  # "tiny", or a CLIP checkpoint: HF hub name in the local cache, or a dir
    text: str = choice("conversation", TEXT_MODES)
    band: str = choice("high", BANDS)
    batch_size: int = 64
    device: str = "auto"
    cpu_threads: int = 1  # torch threads while scoring on CPU (0: torch's default, for a big CLIP)
    # clip=tiny: how the tiny CLIP is trained (about a minute on 2 CPU cores for 4000 pairs)
    clip_steps: int = 200
    clip_batch_size: int = 64
    clip_lr: float = 1e-3
    clip_seed: int = 0


class ClipScoreSelection(CurationMethod):
    name = "clip_score"
    Params = ClipScoreParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        p: ClipScoreParams = self.params
        recipe = TinyClipRecipe(
            steps=p.clip_steps,
            batch_size=p.clip_batch_size,
            lr=p.clip_lr,
            seed=p.clip_seed,
            text=p.text,
        )
        rows, owners, rows_sha256 = one_row_per_image(ctx.records, ctx.pool_sha256)
        model, fingerprint = resolve_clip(
            p.clip,
            rows,
            ctx.image_root,
            rows_sha256,
            ctx.cache_dir,
            recipe,
            ctx.progress,
        )
        row_scores = clip_scores(
            rows,
            ctx.image_root,
            model,
            fingerprint,
            p.text,
            ctx.cache_dir,
            rows_sha256,
            batch_size=p.batch_size,
            device=p.device,
            cpu_threads=p.cpu_threads,
            progress=ctx.progress,
        )
        scores = mean_per_record(row_scores, owners, len(ctx.records))
        chosen = select_band(scores, budget, p.band)
        details = {
            "score": f"CLIP image-text cosine ({p.text})",
            **band_details(scores, chosen, p.band),
            "clip": {"model": model, "fingerprint": fingerprint},
        }
        return Selection(indices=chosen, details=details)


def one_row_per_image(
    records: Sequence[Mapping[str, Any]], pool_sha256: str
) -> tuple[Sequence[Mapping[str, Any]], np.ndarray, str]:
    """(rows, the record of each row, a sha256 naming the rows): a multi-image record becomes
    one single-image row per image; the pool itself when no record has several."""
    if not any(len(record_images(record)) > 1 for record in records):
        return records, np.arange(len(records)), pool_sha256
    rows: list[Mapping[str, Any]] = []
    owners: list[int] = []
    for index, record in enumerate(records):
        images = record_images(record)
        split = [{**record, "image": image} for image in images] if len(images) > 1 else [record]
        rows += split
        owners += [index] * len(split)
    return rows, np.array(owners), sha256_json({"pool": pool_sha256, "rows": "one per image"})


def mean_per_record(row_scores: np.ndarray, owners: np.ndarray, n_records: int) -> np.ndarray:
    """The mean score of each record's rows (NaN stays NaN: a text-only record)."""
    totals = np.zeros(n_records)
    np.add.at(totals, owners, row_scores)
    return totals / np.bincount(owners, minlength=n_records)
