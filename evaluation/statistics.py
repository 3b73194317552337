"""Paired comparisons of runs over items and seeds: Δ in points, a bootstrap interval, P(Δ > 0).

A sweep is paired: seed s is the same training seed for every method, and every run of a suite
scores the same items. For one task, with D[s, i] = method[s, i] - baseline[s, i] on the task's
reported scale (the sign flipped where lower is better, so Δ > 0 always means "method better"):

    Δ = mean over seeds s and items i of D[s, i]

The interval resamples both sources of noise: B times, draw n_seeds seeds with replacement (one
draw shared by every task: a seed is one trained model) and, per task, n_items items with
replacement; Δ* is the mean of D over every drawn (seed, item) pair. The interval is the
(1 - confidence) / 2 and (1 + confidence) / 2 quantiles of Δ*, P(improvement) the share of
Δ* > 0. "overall" is the mean over tasks (each task weighs the same whatever its size, as in
the papers' averages); its Δ* is the mean of the tasks' Δ* of the same resample. The head and
tail parts (ToyWorld) do the same within those items only.

Relative performance (paired_relative) resamples the same way: per task the ratio of the two
arms' means over the drawn (seed, item) pairs, 100 x method* / baseline*, averaged over tasks.

Coverage (bench/paired_bootstrap.py): nominal when the effect differs by item only; too wide
(conservative) when it differs by seed and item; too narrow when a whole seed's model is better
or worse, since 3-5 resampled seeds show only part of that variance (0.81 with 3 seeds, 0.86
with 5, in that simulation).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from configs.errors import InputNotFoundError
from evaluation.aggregate import load_scores
from evaluation.errors import EvalError
from evaluation.scores import PARTS as LONGTAIL_PARTS
from evaluation.scores import item_score

PARTS = ("score", *LONGTAIL_PARTS)  # all items, then the head and the tail items
_CHUNK = 256  # resamples per matrix product: memory stays at ~_CHUNK x n_items counts


@dataclass(frozen=True)
class TaskItems:
    """One task of one run: per-item scores on the task's reported scale, keyed by doc_id."""

    scores: dict[Hashable, float]
    longtail: dict[Hashable, str] = field(default_factory=dict)  # doc_id -> "head" | "tail"
    metric: str = ""
    higher_is_better: bool = True
    scale: float = 1.0


@dataclass(frozen=True)
class RunItems:
    path: Path
    tasks: dict[str, TaskItems]
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why it has no items


@dataclass(frozen=True)
class Difference:
    delta: float  # in the task's points; > 0: the method is better
    low: float
    high: float
    p_improvement: float  # share of the bootstrap Δ* above 0
    n_seeds: int
    n_items: int  # overall: summed over its tasks


@dataclass(frozen=True)
class Comparison:
    per_task: dict[str, dict[str, Difference]]  # task -> part (score | head | tail)
    overall: dict[str, Difference]  # part -> mean over the tasks that have it
    skipped: dict[str, str]  # task -> why it is not compared
    resamples: int
    confidence: float
    seed: int


def load_items(run_dir: str | Path) -> RunItems:
    """Per-item scores of every scored task of an evaluation run directory.

    A task whose item values do not average to its reported score is skipped with the reason
    (its metric is not a mean over items: F1, sums, judge scores); so is an unscored task.
    """
    scores = load_scores(run_dir)
    source = Path(run_dir) / "scores.json" if Path(run_dir).is_dir() else Path(run_dir)
    tasks: dict[str, TaskItems] = {}
    skipped: dict[str, str] = {}
    for name, entry in scores["tasks"].items():
        if entry.get("status") != "scored":
            skipped[name] = "unscored"
            continue
        if not isinstance(entry.get("samples"), str) or not entry["samples"]:
            raise EvalError(f"{source}: task '{name}' names no samples file")
        scale = float(entry.get("scale", 1.0))
        read = _read_samples(source.parent / entry["samples"], entry["metric"], scale)
        why = _unusable(read, entry)
        if why:
            skipped[name] = why
            continue
        item_scores, longtail = read
        tasks[name] = TaskItems(
            item_scores, longtail, entry["metric"], bool(entry.get("higher_is_better", True)), scale
        )
    return RunItems(Path(run_dir), tasks, skipped)


def paired_difference(
    method_runs: Mapping[Any, Mapping[str, TaskItems]],
    baseline_runs: Mapping[Any, Mapping[str, TaskItems]],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Method vs baseline, each as seed -> task -> items (e.g. `load_items(dir).tasks`)."""
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(f"need resamples >= 1 and 0 < confidence < 1: {resamples}, {confidence}")
    seeds = _paired_seeds(method_runs, baseline_runs)
    runs = [*(method_runs[s] for s in seeds), *(baseline_runs[s] for s in seeds)]
    common = [t for t in baseline_runs[seeds[0]] if all(t in run for run in runs)]
    skipped = {t: "not in every run" for run in runs for t in run if t not in common}
    if not common:
        raise EvalError(f"no task is in every run of seeds {', '.join(map(str, seeds))}")

    rng = np.random.default_rng(seed)
    n_seeds = len(seeds)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples)
    per_task: dict[str, dict[str, Difference]] = {}
    draws: dict[str, list[np.ndarray]] = {part: [] for part in PARTS}
    for task in common:
        diff, longtail = _differences(task, seeds, method_runs, baseline_runs)
        per_task[task] = {}
        for part in PARTS:
            part_diff = diff if part == "score" else diff[:, longtail == part]
            if part_diff.shape[1] == 0:
                continue
            deltas = _bootstrap(part_diff, seed_counts, rng)
            draws[part].append(deltas)
            per_task[task][part] = _difference(
                float(part_diff.mean()), deltas, confidence, n_seeds, part_diff.shape[1]
            )
    overall = {}
    for part in PARTS:
        found = [d[part] for d in per_task.values() if part in d]
        if found:
            delta = float(np.mean([d.delta for d in found]))
            n_items = sum(d.n_items for d in found)
            mean_draws = np.mean(draws[part], axis=0)
            overall[part] = _difference(delta, mean_draws, confidence, n_seeds, n_items)
    return Comparison(per_task, overall, skipped, resamples, confidence, seed)


def paired_relative(
    method_runs: Mapping[Any, Mapping[str, TaskItems]],
    baseline_runs: Mapping[Any, Mapping[str, TaskItems]],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Difference | None:
    """Relative performance of method vs baseline in % (COINCIDE's measure): the mean over tasks
    of 100 x method / baseline (baseline / method where lower is better), each task's two means
    taken over the same resampled seeds and items, so the ratio's interval carries the noise of
    both arms and their correlation. "delta" holds the relative performance, not a difference;
    p_improvement is the share of resamples above 100. Resamples in which a task's baseline
    mean is 0 (few items) have no ratio and are left out; None when no task has a nonzero
    denominator or no resample has a ratio."""
    seeds = _paired_seeds(method_runs, baseline_runs)
    runs = [*(method_runs[s] for s in seeds), *(baseline_runs[s] for s in seeds)]
    common = [t for t in baseline_runs[seeds[0]] if all(t in run for run in runs)]
    rng = np.random.default_rng(seed)
    n_seeds = len(seeds)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples)
    points, draws, n_items = [], [], 0
    for task in common:
        _differences(task, seeds, method_runs, baseline_runs)  # the same checks as a Δ
        doc_ids = list(baseline_runs[seeds[0]][task].scores)
        method, baseline = (
            np.array([[arm[s][task].scores[d] for d in doc_ids] for s in seeds])
            for arm in (method_runs, baseline_runs)
        )
        higher = baseline_runs[seeds[0]][task].higher_is_better
        numerator, denominator = (method, baseline) if higher else (baseline, method)
        if denominator.mean() == 0:
            continue
        top, bottom = _bootstrap_means([numerator, denominator], seed_counts, rng)
        # a resample whose baseline mean is 0 has no ratio: it is left out of the interval
        with np.errstate(divide="ignore", invalid="ignore"):
            draws.append(np.where(bottom > 0, 100.0 * top / bottom, np.nan))
        points.append(100.0 * numerator.mean() / denominator.mean())
        n_items += len(doc_ids)
    if not points:
        return None
    mean_draws = np.mean(draws, axis=0)
    mean_draws = mean_draws[np.isfinite(mean_draws)]
    if not len(mean_draws):
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(mean_draws, [tail, 1 - tail])
    p_above = float(np.mean(mean_draws > 100.0))
    return Difference(float(np.mean(points)), float(low), float(high), p_above, n_seeds, n_items)


def _bootstrap(diff: np.ndarray, seed_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Δ* per resample = Σ_s Σ_i c_s c_i D[s, i] / (n_seeds n_items), c = how often each is drawn.

    The mean over all drawn (seed, item) pairs without building them: a count matrix times D.
    """
    return _bootstrap_means([diff], seed_counts, rng)[0]


def _bootstrap_means(
    matrices: list[np.ndarray], seed_counts: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """_bootstrap of several (n_seeds, n_items) matrices with the same draws of seeds and items."""
    n_seeds, n_items = matrices[0].shape
    means = [np.empty(len(seed_counts)) for _ in matrices]
    for start in range(0, len(seed_counts), _CHUNK):
        size = min(_CHUNK, len(seed_counts) - start)
        picks = rng.integers(0, n_items, size=(size, n_items)) + n_items * np.arange(size)[:, None]
        item_counts = np.bincount(picks.ravel(), minlength=size * n_items).reshape(size, n_items)
        for matrix, out in zip(matrices, means, strict=True):
            per_seed = item_counts.astype(float) @ matrix.T  # (size, n_seeds): Σ_i c_i D[s, i]
            out[start : start + size] = (per_seed * seed_counts[start : start + size]).sum(axis=1)
    return [m / (n_seeds * n_items) for m in means]


def _difference(
    delta: float, deltas: np.ndarray, confidence: float, n_seeds: int, n_items: int
) -> Difference:
    tail = (1 - confidence) / 2
    low, high = np.quantile(deltas, [tail, 1 - tail])
    p_improvement = float(np.mean(deltas > 0))
    return Difference(delta, float(low), float(high), p_improvement, n_seeds, n_items)


def _paired_seeds(method_runs: Mapping, baseline_runs: Mapping) -> list:
    missing = [f"seed {s} has no baseline run" for s in method_runs if s not in baseline_runs]
    missing += [f"seed {s} has no method run" for s in baseline_runs if s not in method_runs]
    if missing:
        raise EvalError(f"seeds do not pair up: {'; '.join(missing)}")
    if not method_runs:
        raise EvalError("no runs to compare")
    return sorted(method_runs)


def _differences(
    task: str, seeds: list, method_runs: Mapping, baseline_runs: Mapping
) -> tuple[np.ndarray, np.ndarray]:
    """D[s, i] (signed so that > 0 is better) and each item's head/tail label ("" if none)."""
    reference = baseline_runs[seeds[0]][task]
    doc_ids = list(reference.scores)
    for arm, runs in (("method", method_runs), ("baseline", baseline_runs)):
        for s in seeds:
            items = runs[s][task]
            where = f"task '{task}': {arm} seed {s} vs baseline seed {seeds[0]}"
            if items.scores.keys() != reference.scores.keys():
                raise EvalError(f"{where}: items differ ({_item_mismatch(items, reference)})")
            if items.longtail != reference.longtail:
                raise EvalError(f"{where}: items are split into head/tail differently")
            if (items.higher_is_better, items.scale) != (
                reference.higher_is_better,
                reference.scale,
            ):
                raise EvalError(f"{where}: different metric direction or scale")
    method = np.array([[method_runs[s][task].scores[d] for d in doc_ids] for s in seeds])
    baseline = np.array([[baseline_runs[s][task].scores[d] for d in doc_ids] for s in seeds])
    sign = 1.0 if reference.higher_is_better else -1.0
    longtail = np.array([reference.longtail.get(d, "") for d in doc_ids])
    return sign * (method - baseline), longtail


def _item_mismatch(items: TaskItems, reference: TaskItems) -> str:
    def some(ids: set) -> str:
        shown = sorted(ids, key=str)[:5]
        return ", ".join(map(str, shown)) + (" ..." if len(ids) > 5 else "")

    extra = items.scores.keys() - reference.scores.keys()
    lacking = reference.scores.keys() - items.scores.keys()
    found = [f"{len(lacking)} missing: doc_id {some(lacking)}"] if lacking else []
    found += [f"{len(extra)} extra: doc_id {some(extra)}"] if extra else []
    return "; ".join(found)


def _read_samples(
    path: Path, metric: str, scale: float
) -> tuple[dict[Hashable, float], dict[Hashable, str]] | None:
    """doc_id -> item value x scale and doc_id -> head/tail, or None if a value is no number."""
    if not path.is_file():
        raise InputNotFoundError(f"samples not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path}: unreadable samples file: {exc}") from None
    scores: dict[Hashable, float] = {}
    longtail: dict[Hashable, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not a JSON line: {exc}") from None
        if not isinstance(sample, dict) or "doc_id" not in sample or metric not in sample:
            raise EvalError(f"{path}:{number}: a sample needs 'doc_id' and '{metric}'")
        doc_id = sample["doc_id"]
        if not isinstance(doc_id, (int, str)) or doc_id in scores:
            raise EvalError(f"{path}:{number}: doc_id {doc_id!r} is not a new int or string")
        value = sample[metric]
        # ToyWorld's items (evaluation/tasks/toyworld/scoring.py:process_results) carry the
        # score and the head/tail label that its aggregate_head/_tail filter on
        if isinstance(value, dict) and value.get("longtail") in LONGTAIL_PARTS:
            longtail[doc_id] = value["longtail"]
        number = item_score(value)
        if number is None:
            return None
        scores[doc_id] = number * scale
    if not scores:
        raise EvalError(f"{path}: no samples")
    return scores, longtail


def _unusable(read: tuple | None, entry: Mapping[str, Any]) -> str:
    """Why the items cannot stand for the task's reported numbers ("" if they can)."""
    if read is None:
        return f"per-item '{entry['metric']}' is not a number"
    scores, longtail = read
    for part in PARTS:
        reported = entry.get(part)
        if not isinstance(reported, (int, float)) or isinstance(reported, bool):
            if part == "score":
                return "no reported score"
            continue
        values = [v for d, v in scores.items() if part == "score" or longtail.get(d) == part]
        mean = math.fsum(values) / len(values) if values else math.nan
        if not math.isclose(mean, reported, rel_tol=1e-6, abs_tol=1e-9):
            return f"its items' mean {part} {mean:.6g} is not the reported {reported:.6g}"
    return ""
