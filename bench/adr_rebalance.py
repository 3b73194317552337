"""Benchmark: ADR Data Rebalancing on a synthetic pool with LLaVA-665K's shape.

    .venv/bin/python bench/adr_rebalance.py [--samples 665298] [--seed 42]

Entity counts per perspective follow a two-piece Zipf law fitted so that the number of
entities, the head size and tau at q match the paper's LLaVA-665K figures (token 512,151 /
6,745 / 120 over ~15.6M mentions; object 113,149 / 2,222 / 304; co-occurrence 1,065,602 /
78,082 / 24 at q=0.75; interrogation 5,770 / 25 / 4,895); mentions are spread over the samples
at random.
Times tau + pass probabilities + draws (everything DR does after entity extraction) and
reports peak traced memory of that step and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from curation.data.longtail import tau_threshold
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.rebalance import RebalanceParams, rebalance


@dataclass(frozen=True)
class Shape:
    name: str
    entities: int
    head: int
    tau: int
    q: float
    mass: int  # total mentions / sample-entity pairs
    dedupe: bool


LLAVA_665K = (
    Shape("token", 512_151, 6_745, 120, 0.9, 15_600_000, False),
    Shape("object", 113_149, 2_222, 304, 0.9, 3_400_000, True),
    Shape("co_occurrence", 1_065_602, 78_082, 24, 0.75, 9_000_000, True),
    Shape("interrogation", 5_770, 25, 4_895, 0.9, 1_600_000, True),
)


def _fit(target: float, make: Callable[[float], np.ndarray], increasing: bool) -> np.ndarray:
    """Bisect the exponent in [0, 8] so that make(exponent).sum() comes closest to target."""
    lo, hi = 0.0, 8.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (make(mid).sum() < target) == increasing:
            lo = mid
        else:
            hi = mid
    return make(hi if increasing else lo)


def zipf_counts(shape: Shape) -> np.ndarray:
    """Descending counts: `head` entities at >= tau carry q of the mass (slightly more, so
    that the cumulative mass reaches q exactly at the last head entity), the rest < tau."""
    head_ranks = np.arange(1, shape.head + 1, dtype=np.float64)
    tail_ranks = np.arange(1, shape.entities - shape.head + 1, dtype=np.float64)

    def head(a: float) -> np.ndarray:
        return np.floor(np.minimum(shape.tau * (shape.head / head_ranks) ** a, 1e12)).astype(
            np.int64
        )

    def tail(b: float) -> np.ndarray:
        return np.clip(np.floor((shape.tau - 1) * tail_ranks**-b), 1, shape.tau - 1).astype(
            np.int64
        )

    head_counts = _fit(shape.q * shape.mass * 1.001, head, increasing=True)
    tail_counts = _fit((1 - shape.q) * shape.mass * 0.999, tail, increasing=False)
    return np.concatenate([head_counts, tail_counts])


def synthetic_table(shape: Shape, n_samples: int, rng: np.random.Generator) -> EntityTable:
    counts = zipf_counts(shape)
    if shape.dedupe:
        counts = np.minimum(counts, n_samples)
    cols = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    if shape.dedupe:
        rows = _distinct_rows(counts, n_samples, rng)
    else:
        # Mentions per sample vary as in LLaVA's mix (one-word VQA answers beside long
        # descriptions): samples draw mentions in proportion to a log-normal length.
        length = rng.lognormal(0.0, 1.2, size=n_samples)
        cdf = np.cumsum(length / length.sum())
        rows = np.minimum(np.searchsorted(cdf, rng.random(cols.size)), n_samples - 1)
    vocab = [f"{shape.name[:3]}{j:07d}" for j in range(counts.size)]  # sorted = rank order
    return EntityTable.from_pairs(shape.name, vocab, rows, cols, n_samples)


def _distinct_rows(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """For each entity, `count` distinct samples: start + k * stride (mod n), stride prime
    to n, so n_e stays exact for the de-duplicated perspectives."""
    primes = np.array(
        [p for p in (7919, 104729, 1299709, 15485863, 32452843, 49979687) if n % p], dtype=np.int64
    )
    start = rng.integers(0, n, size=counts.size)
    stride = primes[rng.integers(0, primes.size, size=counts.size)]
    first = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
    return (np.repeat(start, counts) + k * np.repeat(stride, counts)) % n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=665_298)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    start = time.perf_counter()
    tables = {shape.name: synthetic_table(shape, args.samples, rng) for shape in LLAVA_665K}
    build_s = time.perf_counter() - start
    print(f"synthetic pool: {args.samples} samples, built in {build_s:.1f} s")
    for shape in LLAVA_665K:
        table = tables[shape.name]
        counts = table.count_dict()
        tau = tau_threshold(counts, shape.q)
        head = int((table.counts >= tau).sum())
        print(
            f"  {shape.name:<14} entities {len(counts):>9,}  mass {table.counts.sum():>11,}  "
            f"nnz {table.matrix.nnz:>11,}  tau {tau:>6} (spec {shape.tau})  "
            f"head {head:>6,} (spec {shape.head:,})"
        )

    params = RebalanceParams(perspectives=[s.name for s in LLAVA_665K])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    start = time.perf_counter()
    result = rebalance(tables, params, seed=args.seed)
    dr_s = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"DR (compose_alpha, 4 perspectives, pass_num 0, alpha 1): kept {result.kept.size:,} "
        f"of {args.samples:,} in {dr_s:.2f} s"
    )
    print(
        f"  peak traced memory during DR {peak / 2**20:.0f} MiB; process peak RSS "
        f"{rss_before:.0f} MiB before DR, {rss_after:.0f} MiB after"
    )
    print(f"  taus: {result.taus}")
    rates = ", ".join(f"{name} {result.passed[:, k].mean():.1%}" for k, name in enumerate(tables))
    print(f"  samples passing each perspective: {rates}")


if __name__ == "__main__":
    main()
