"""Benchmark: COINCIDE's selection stage (scores + allocation + greedy MMD) at LLaVA-665K shape.

    .venv/bin/python bench/coincide_select.py                 # N=665,298 K=10,000 D=20,480
    .venv/bin/python bench/coincide_select.py --dim 4096      # smaller features, same N and K

1. Synthetic clustered unit-norm features, float16, memory-mapped from disk (27 GB at D=20480:
   more than this machine's RAM), with k-means-like imbalanced (log-normal) cluster sizes and
   correlated centroids; written once under --workdir and reused by later runs.
2. `select_coincide` on them, cold page cache: time per phase, peak memory.
3. The same stage written the reference's way (`curation.methods.coincide.naive`) against ours on a
   smaller instance of the same generator, where the naive one finishes: both times, the
   speed-up, and a check that the selections are identical.
Figures go to bench/RESULTS.md by hand (this prints a markdown block).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.methods.coincide.mmd import DenseKernel, greedy_mmd  # noqa: E402
from curation.methods.coincide.naive import naive_greedy_mmd, naive_kernel, naive_select  # noqa: E402
from curation.methods.coincide.scores import FeatureLayout  # noqa: E402
from curation.methods.coincide.select import select_coincide  # noqa: E402

HIDDEN_PER_BLOCK = 2048  # TinyLLaVA-2B: 5 layers x 2 blocks x 2048 = 20480


def make_features(
    folder: Path, n: int, k: int, dim: int, seed: int, block_rows: int = 2048
) -> float:
    """Write features.npy (float16, N x D), assignments.npy and centroids.npy; seconds taken.

    Cluster sizes are log-normal (sigma 1), like k-means on real data; rows of a cluster are
    spread over the whole file. Centres share a 64-dim component, so transferability varies.
    Each row = its centre + a cluster-specific amount of noise made of two random unit vectors
    from a bank of 4096 with Gaussian weights, renormalised.
    """
    meta = {"n": n, "k": k, "dim": dim, "seed": seed, "version": 2}
    if (folder / "meta.json").is_file() and json.loads((folder / "meta.json").read_text()) == meta:
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, size=k)
    sizes = 1 + rng.multinomial(n - k, weights / weights.sum())
    labels = rng.permutation(np.repeat(np.arange(k), sizes))
    rank = 64
    mixing = torch.randn(dim, rank, generator=gen) / rank**0.5
    centres = 0.6 * torch.randn(k, rank, generator=gen) @ mixing.T
    centres += 0.8 * torch.randn(k, dim, generator=gen) / dim**0.5
    centres = torch.nn.functional.normalize(centres, dim=1)
    bank = torch.nn.functional.normalize(torch.randn(4096, dim, generator=gen), dim=1)
    spread = torch.from_numpy(rng.uniform(0.3, 1.2, size=k).astype(np.float32))
    out = np.lib.format.open_memmap(
        folder / "features.npy", mode="w+", dtype=np.float16, shape=(n, dim)
    )
    x = torch.empty(block_rows, dim)
    noise = torch.empty(block_rows, dim)
    for lo in range(0, n, block_rows):
        lab = torch.from_numpy(labels[lo : lo + block_rows])
        rows = len(lab)
        xb, nb = x[:rows], noise[:rows]
        picks = torch.randint(0, len(bank), (rows, 2), generator=gen)
        coef = torch.randn(rows, 2, generator=gen) * (spread[lab] / 2**0.5)[:, None]
        torch.index_select(centres, 0, lab, out=xb)
        for t in range(2):
            torch.index_select(bank, 0, picks[:, t], out=nb)
            xb.addcmul_(nb, coef[:, t : t + 1])
        xb.mul_(torch.linalg.vector_norm(xb, dim=1, keepdim=True).reciprocal_())
        out[lo : lo + rows] = xb.half().numpy()
    out.flush()
    del out
    np.save(folder / "assignments.npy", labels.astype(np.int64))
    np.save(folder / "centroids.npy", centres.numpy())
    (folder / "meta.json").write_text(json.dumps(meta))
    return time.perf_counter() - start


class MemoryWatch:
    """Peak resident memory of this process, sampled from /proc: anonymous (what we allocate)
    and file-backed (pages of the memory map, which the kernel may drop at any time)."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s, self.peak = every_s, {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/status") as handle:
                for line in handle:
                    key = line.split(":", 1)[0]
                    if key in self.peak:
                        self.peak[key] = max(self.peak[key], int(line.split()[1]) * 1024)
            self._stop.wait(self.every_s)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def drop_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def run_full(folder: Path, dim: int, fraction: float) -> dict:
    drop_page_cache(folder / "features.npy")
    features = np.load(folder / "features.npy", mmap_mode="r")
    assignments = np.load(folder / "assignments.npy")
    centroids = np.load(folder / "centroids.npy")
    layout = FeatureLayout(dim // (2 * HIDDEN_PER_BLOCK) or 1, min(dim // 2, HIDDEN_PER_BLOCK))
    if layout.dim != dim:
        layout = FeatureLayout(1, dim // 2)
    start = time.perf_counter()
    with MemoryWatch() as watch:
        result = select_coincide(
            features, assignments, centroids, layout, fraction=fraction, progress=True
        )
    sizes = np.bincount(assignments)
    return {
        "seconds": time.perf_counter() - start,
        "timings": result.timings,
        "selected": len(result.indices),
        "target": result.target,
        "peak": watch.peak,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "file_bytes": (folder / "features.npy").stat().st_size,
        "cluster_sizes": {
            "min": int(sizes.min()),
            "median": float(np.median(sizes)),
            "max": int(sizes.max()),
        },
    }


def run_versus_naive(folder: Path, n: int, k: int, dim: int, fraction: float) -> dict:
    make_features(folder, n, k, dim, seed=1)
    features = np.load(folder / "features.npy")
    assignments = np.load(folder / "assignments.npy")
    centroids = np.load(folder / "centroids.npy")
    layout = FeatureLayout(1, dim // 2)
    start = time.perf_counter()
    ours = select_coincide(features, assignments, centroids, layout, fraction=fraction)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = naive_select(features, assignments, centroids, 1, dim // 2, int(fraction * n))
    naive_s = time.perf_counter() - start
    return {
        "n": n,
        "k": k,
        "dim": dim,
        "ours_s": ours_s,
        "naive_s": naive_s,
        "identical": bool(np.array_equal(ours.indices, naive)),
        "max_cluster": int(np.bincount(assignments).max()),
    }


def run_one_cluster(n: int, dim: int, fraction: float) -> dict:
    """Greedy MMD alone on one cluster of n points: where the reference's cost explodes."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, dim)) * 0.3 + rng.normal(size=dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    budget = int(fraction * n)
    kernel = naive_kernel(x, 1.0)
    start = time.perf_counter()
    ours = greedy_mmd(DenseKernel.from_matrix(kernel), budget)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = naive_greedy_mmd(kernel, budget)
    naive_s = time.perf_counter() - start
    return {
        "n": n,
        "budget": budget,
        "ours_s": ours_s,
        "naive_s": naive_s,
        "identical": bool(np.array_equal(ours, naive)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=665_298)
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=20_480)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--naive-n", type=int, default=20_000)
    parser.add_argument("--naive-k", type=int, default=300)
    parser.add_argument("--naive-dim", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=Path("outputs/bench/coincide_select"))
    parser.add_argument(
        "--parts",
        default="stage,cluster,full",
        help="comma-separated: stage (naive vs ours, whole stage), cluster "
        "(greedy MMD on one cluster), full (ours at --n/--k/--dim)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{gib(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'))} RAM, "
        f"torch threads {torch.get_num_threads()}, numpy {np.__version__}"
    )
    print(f"machine: {machine}", flush=True)
    if "cluster" in parts:
        for n in (100, 200, 400):
            one = run_one_cluster(n, 256, args.fraction)
            print(
                f"| one cluster n={n}, budget {one['budget']} | naive {one['naive_s']:.2f} s | "
                f"ours {one['ours_s'] * 1e3:.1f} ms | {one['naive_s'] / one['ours_s']:.0f}x | "
                f"identical {one['identical']} |",
                flush=True,
            )
    if "stage" in parts:
        small = args.workdir / f"naive-{args.naive_n}-{args.naive_k}-{args.naive_dim}"
        versus = run_versus_naive(small, args.naive_n, args.naive_k, args.naive_dim, args.fraction)
        print(json.dumps(versus), flush=True)
    if "full" not in parts or "stage" not in parts:
        return
    folder = args.workdir / f"full-{args.n}-{args.k}-{args.dim}"
    generated = make_features(folder, args.n, args.k, args.dim, seed=0)
    print(f"generated features in {generated:.1f} s (0: reused)", flush=True)
    full = run_full(folder, args.dim, args.fraction)
    print(json.dumps(full), flush=True)
    t = full["timings"]
    speedup = versus["naive_s"] / versus["ours_s"]
    rows = [
        [
            "N",
            "K",
            "D",
            "features on disk",
            "transferability",
            "density pass",
            "allocation",
            "greedy MMD",
            "total",
            "peak anon RSS",
            "peak RSS incl. mapped file",
        ],
        [
            f"{args.n:,}",
            f"{args.k:,}",
            f"{args.dim:,}",
            gib(full["file_bytes"]),
            *(f"{t[p]:.1f} s" for p in ("transferability", "density", "allocation", "greedy_mmd")),
            f"{full['seconds']:.1f} s",
            gib(full["peak"]["RssAnon"]),
            gib(full["peak"]["VmRSS"]),
        ],
        [],
        ["naive vs ours: N", "K", "D", "largest cluster", "naive", "ours", "speed-up", "identical"],
        [
            f"{versus['n']:,}",
            str(versus["k"]),
            str(versus["dim"]),
            str(versus["max_cluster"]),
            f"{versus['naive_s']:.1f} s",
            f"{versus['ours_s']:.2f} s",
            f"{speedup:.0f}x",
            str(versus["identical"]),
        ],
    ]
    for i, row in enumerate(rows):
        print("| " + " | ".join(row) + " |" if row else "")
        if i in (0, 3):
            print("|" + "---|" * len(row))


if __name__ == "__main__":
    main()
