"""The pool side: which benchmark items one pool record leaks, and how.

exact: an image of the record decodes to the same pixels as a benchmark image. near: not
exact, but within the perceptual-hash distance of a benchmark image and confirmed by the
pixel check (config.NearConfig). text: the record's human turns hold at least
text.min_overlap of a benchmark question's n-grams. A record matches every item it leaks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from curation.decontaminate.benchmarks import BenchmarkIndex, thumbnail
from curation.decontaminate.config import DecontaminateConfig
from curation.decontaminate.imagehash import exact_hash, hamming, phash
from curation.decontaminate.text import record_ngrams


@dataclass(frozen=True)
class Match:
    kind: str  # exact | near | text
    task: str
    item: str
    detail: dict[str, Any]


def image_matches(image: Image.Image, index: BenchmarkIndex, cfg: DecontaminateConfig):
    """exact and near matches of one pool image, as (kind, image entry, detail)."""
    found = []
    if "exact" in cfg.kinds:
        for entry in index.exact.get(exact_hash(image), []):
            found.append(("exact", entry, {}))
    if "near" not in cfg.kinds or found or not len(index.phashes):
        return found
    distances = hamming(index.phashes, phash(image))
    candidates = np.flatnonzero(distances <= cfg.near.max_hamming)
    mine = thumbnail(image, cfg.near.side)
    shift, limit = cfg.near.max_shift, cfg.near.max_pixel_difference
    bound = difference_bound(mine, index.centre_means[candidates], shift)
    candidates = candidates[bound <= limit]
    if not len(candidates):
        return found
    differences = aligned_difference(mine, index.thumbnails[candidates], shift)
    for entry, difference in zip(candidates, differences, strict=True):
        if difference <= limit:
            detail = {"hamming": int(distances[entry]), "pixel_difference": round(difference, 2)}
            found.append(("near", int(entry), detail))
    return found


def centre(images: np.ndarray, max_shift: int) -> np.ndarray:
    """The pixels every shift of up to max_shift px keeps: (..., side - 2m, side - 2m, 3)."""
    side = images.shape[-2]
    return images[..., max_shift : side - max_shift, max_shift : side - max_shift, :]


def aligned_difference(image: np.ndarray, others: np.ndarray, max_shift: int) -> list[float]:
    """Per image of `others` (k, side, side, 3): the smallest mean absolute difference
    between its centre (all but a max_shift border) and `image` shifted by up to max_shift
    px in x and y over the same pixels."""
    side, m = image.shape[0], max_shift
    a = image.astype(np.int16)
    b = centre(others, m).astype(np.int16)
    best = np.full(len(others), np.inf)
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            moved = a[m + dy : side - m + dy, m + dx : side - m + dx]
            best = np.minimum(best, np.abs(b - moved).mean(axis=(1, 2, 3)))
    return [float(value) for value in best]


def difference_bound(image: np.ndarray, centre_means: np.ndarray, max_shift: int) -> np.ndarray:
    """A lower bound of aligned_difference against images whose centres have these per-channel
    means (k, 3), from means alone: a mean absolute difference is at least the difference of
    the means, and the shifted image's mean over the centre lies in its range over the
    shifts. Skips the pixel comparison for most pairs."""
    side, m = image.shape[0], max_shift
    a = image.astype(np.float64)
    means = [
        a[m + dy : side - m + dy, m + dx : side - m + dx].mean(axis=(0, 1))
        for dy in range(-m, m + 1)
        for dx in range(-m, m + 1)
    ]
    low, high = np.min(means, axis=0), np.max(means, axis=0)
    gap = np.maximum(low - centre_means, 0) + np.maximum(centre_means - high, 0)
    return gap.mean(axis=1)


def text_matches(record: dict[str, Any], index: BenchmarkIndex, cfg: DecontaminateConfig):
    """text matches of one record, as (question entry, overlap)."""
    if "text" not in cfg.kinds or not index.question_item:
        return []
    turns = [t["value"] for t in record["conversations"] if t.get("from") == "human"]
    shared: Counter[int] = Counter()
    for gram in record_ngrams(turns, cfg.text.ngram):
        shared.update(index.ngram_questions.get(gram, ()))
    found = []
    for entry, count in sorted(shared.items()):
        overlap = count / index.question_size[entry]
        if overlap >= cfg.text.min_overlap:
            found.append((entry, round(overlap, 3)))
    return found


def record_matches(
    record: dict[str, Any],
    images: list[Image.Image],
    index: BenchmarkIndex,
    cfg: DecontaminateConfig,
) -> list[Match]:
    """Every benchmark item `record` (with its decoded `images`) leaks."""
    matches = []
    for position, image in enumerate(images):
        for kind, entry, detail in image_matches(image, index, cfg):
            task, item = index.items[index.image_item[entry]]
            where = {"image": position} if len(images) > 1 else {}
            matches.append(Match(kind, task, item, {**where, **detail}))
    for entry, overlap in text_matches(record, index, cfg):
        task, item = index.items[index.question_item[entry]]
        matches.append(Match("text", task, item, {"overlap": overlap}))
    return matches
