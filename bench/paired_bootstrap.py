"""Benchmark: coverage and cost of evaluation.statistics.paired_difference.

    .venv/bin/python bench/paired_bootstrap.py [--draws 200] [--skip-timing]

Coverage: synthetic paired sweeps whose true Δ is known (2 points): the baseline scores each
item at a fixed difficulty, the method at difficulty + Δ + noise D[s, i], under three models of
that noise, for 3 and 5 seeds; the share of draws whose 95% interval covers the true Δ.
  item         D[s, i] = e_i: the method helps or hurts item i alike in every seed
  seed         D[s, i] = e_i + u_s: one seed's model is better or worse as a whole
  seed x item  D[s, i] = e_si: which items a model gains on changes with the seed
Cost: one call at the shape of the coincide12 suite (12 tasks x 5 seeds x 5,000 items x 2,000
resamples), head/tail parts included.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evaluation.statistics import TaskItems, paired_difference

TRUE_DELTA = 2.0


def sweeps(rng, n_seeds, n_tasks, n_items, model):
    """(method, baseline): seed -> task -> TaskItems, with D = method - baseline as `model` says."""
    difficulty = rng.normal(50, 15, size=(n_tasks, n_items))
    item_effect = rng.normal(0, 10, size=(n_tasks, n_items))
    labels = {i: "head" if i % 2 else "tail" for i in range(n_items)}
    method, baseline = {}, {}
    for seed in range(n_seeds):
        method[seed], baseline[seed] = {}, {}
        seed_effect = rng.normal(0, 3)
        for task in range(n_tasks):
            if model == "seed x item":
                noise = rng.normal(0, 10, n_items)
            else:
                noise = item_effect[task] + (seed_effect if model == "seed" else 0.0)
            scores = difficulty[task] + TRUE_DELTA + noise
            method[seed][f"t{task}"] = TaskItems(dict(enumerate(scores.tolist())), labels)
            base = difficulty[task].tolist()
            baseline[seed][f"t{task}"] = TaskItems(dict(enumerate(base)), labels)
    return method, baseline


def coverage(model, n_seeds, draws):
    covered = 0
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        method, baseline = sweeps(rng, n_seeds, 3, 200, model)
        result = paired_difference(method, baseline, resamples=1000, seed=draw).overall["score"]
        covered += result.low <= TRUE_DELTA <= result.high
    return covered / draws


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    print(f"coverage of the 95% interval over {args.draws} draws (3 tasks x 200 items, B=1000)")
    for model in ("item", "seed", "seed x item"):
        for n_seeds in (3, 5):
            print(f"  {model:12s} {n_seeds} seeds: {coverage(model, n_seeds, args.draws):.3f}")
    if args.skip_timing:
        return
    rng = np.random.default_rng(0)
    method, baseline = sweeps(rng, 5, 12, 5000, "seed x item")
    for _ in range(2):
        start = time.perf_counter()
        paired_difference(method, baseline, resamples=2000, seed=0)
        print(
            f"12 tasks x 5 seeds x 5000 items x 2000 resamples: {time.perf_counter() - start:.2f} s"
        )


if __name__ == "__main__":
    main()
