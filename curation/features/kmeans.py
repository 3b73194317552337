"""Spherical k-means over (possibly memory-mapped) feature rows, deterministic and cached.

    clustering = spherical_kmeans(features, k=10000, niter=50, seed=1234, cache_dir=...)
    clustering.assignments  # (N,) int64: nearest centroid by inner product (ties: lowest id)
    clustering.centroids    # (K, D) float32, unit norm

Training is faiss's `Kmeans(d, k, niter, seed, spherical=True)` with its clustering options
pinned (so a newer faiss with other defaults gives the same semantics); with `device="cuda"`
it runs on faiss-gpu when installed, else on a torch matmul implementation of the same
algorithm (random init from the seed, Lloyd steps, centroids renormalised). Assignment is our
own blocked argmax over inner products, so the whole feature matrix never has to sit in RAM
as float32. Results are cached under `cache_dir/kmeans/<key>/`, keyed by (features id, K,
niter, seed, backend, training rows); reused by COINCIDE, SemDeDup and self_sup.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.data.fileio import atomic_directory, atomic_write_json, sha256_json
from curation.data.mapped import float32_rows, gather_rows, read_rows

KMEANS_VERSION = 1
ASSIGNMENTS, CENTROIDS, META = "assignments.npy", "centroids.npy", "meta.json"
# faiss ClusteringParameters that newer releases added or may change the default of.
PINNED_FAISS_OPTIONS = {
    "nredo": 1,
    "max_points_per_centroid": 256,
    "min_points_per_centroid": 39,
    "init_method": 0,  # random sample of k points
    "use_faster_subsampling": False,
    "use_super_kmeans": False,
    "early_stop_threshold": 0.0,
    "frozen_centroids": False,
}


@dataclass(frozen=True)
class Clustering:
    assignments: np.ndarray  # (N,) int64
    centroids: np.ndarray  # (K, D) float32
    key: str  # cache key: (features id, K, niter, seed, backend, training rows)
    path: Path | None = None  # cache directory, when cached

    @property
    def k(self) -> int:
        return len(self.centroids)


def array_sha256(array: np.ndarray, block_rows: int = 4096) -> str:
    """Content hash of an array's dtype, shape and bytes (read in row blocks: memmap-friendly)."""
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    for start in range(0, len(array), block_rows):
        digest.update(np.ascontiguousarray(read_rows(array, start, start + block_rows)).tobytes())
    return digest.hexdigest()


def spherical_kmeans(
    features: np.ndarray,
    k: int,
    *,
    niter: int = 50,
    seed: int = 1234,
    features_id: str | None = None,
    cache_dir: str | Path | None = None,
    device: str = "auto",
    max_train_bytes: int = 8 << 30,
    progress: bool = False,
) -> Clustering:
    """Cluster the rows of `features` (N, D) into `k` spherical clusters.

    features_id: a stable id of the features' content (e.g. the feature cache's sha256);
    hashed from the array when not given. The centroids are trained on all rows, or on a seeded
    sample of rows when N x D float32 exceeds `max_train_bytes`; every row is then assigned.
    device: cpu | cuda | auto (cuda when torch sees a GPU).
    """
    n, dim = features.shape
    if not 1 <= k <= n:
        raise ValueError(f"k-means with k={k} clusters needs 1 <= k <= number of samples ({n})")
    if niter < 1:
        raise ValueError(f"k-means needs niter >= 1, got {niter}")
    backend = _backend(device)
    train_rows = _training_rows(n, dim, max_train_bytes, seed)
    key = sha256_json(
        {
            "version": KMEANS_VERSION,
            "features": features_id or array_sha256(features),
            "k": k,
            "niter": niter,
            "seed": seed,
            "backend": backend,
            "train_rows": None if train_rows is None else len(train_rows),
        }
    )
    folder = Path(cache_dir) / "kmeans" / key[:24] if cache_dir is not None else None
    if folder is not None and (folder / META).is_file():
        return Clustering(
            np.load(folder / ASSIGNMENTS, allow_pickle=False),
            np.load(folder / CENTROIDS, allow_pickle=False),
            key,
            folder,
        )

    if (
        train_rows is None
        and isinstance(features, np.ndarray)
        and not isinstance(features, np.memmap)
    ):
        sample = np.ascontiguousarray(features, dtype=np.float32)  # no copy when it is float32
    elif train_rows is None:
        sample = float32_rows(features)  # a mapped file's pages do not stay in this process
    else:
        sample = np.ascontiguousarray(gather_rows(features, train_rows), dtype=np.float32)
    if backend.startswith("faiss"):
        centroids = _train_faiss(
            sample, k, niter, seed, gpu=backend == "faiss-gpu", verbose=progress
        )
    else:
        centroids = _train_torch(sample, k, niter, seed, device="cuda")
    del sample
    assignments = assign(features, centroids, device="cpu" if backend == "faiss-cpu" else "cuda")
    clustering = Clustering(assignments, centroids, key)
    if folder is None:
        return clustering
    with atomic_directory(folder) as tmp:
        np.save(tmp / ASSIGNMENTS, assignments, allow_pickle=False)
        np.save(tmp / CENTROIDS, centroids, allow_pickle=False)
        atomic_write_json(
            tmp / META,
            {
                "key": key,
                "k": k,
                "niter": niter,
                "seed": seed,
                "backend": backend,
                "n": n,
                "dim": dim,
                "trained_on": n if train_rows is None else len(train_rows),
            },
        )
    return Clustering(assignments, centroids, key, folder)


def assign(
    features: np.ndarray, centroids: np.ndarray, block_rows: int = 8192, device: str = "cpu"
) -> np.ndarray:
    """Nearest centroid of every row by inner product (ties: the lowest centroid id), in
    float32, a block of rows at a time (on a GPU with device="cuda")."""
    cent = np.ascontiguousarray(centroids, dtype=np.float32)
    out = np.empty(len(features), dtype=np.int64)
    if device == "cuda":
        import torch

        cent_gpu = torch.from_numpy(cent).to(device)
    for start in range(0, len(features), block_rows):
        block = np.asarray(read_rows(features, start, start + block_rows), dtype=np.float32)
        if device == "cuda":
            scores = torch.from_numpy(block).to(device) @ cent_gpu.T
            out[start : start + len(block)] = scores.argmax(dim=1).cpu().numpy()
        else:
            out[start : start + len(block)] = np.argmax(block @ cent.T, axis=1)
    return out


def read_meta(folder: str | Path) -> dict:
    with open(Path(folder) / META, encoding="utf-8") as handle:
        return json.load(handle)


def _backend(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"k-means device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "faiss-cpu"
    import torch

    if not torch.cuda.is_available():
        if device == "cuda":
            raise ValueError("k-means device=cuda, but torch sees no GPU")
        return "faiss-cpu"
    import faiss

    return "faiss-gpu" if faiss.get_num_gpus() > 0 else "torch-cuda"


def _training_rows(n: int, dim: int, max_bytes: int, seed: int) -> np.ndarray | None:
    if n * dim * 4 <= max_bytes:
        return None
    size = max(1, max_bytes // (dim * 4))
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _train_faiss(
    sample: np.ndarray, k: int, niter: int, seed: int, gpu: bool, verbose: bool
) -> np.ndarray:
    import faiss

    km = faiss.Kmeans(
        sample.shape[1], k, niter=niter, seed=seed, spherical=True, verbose=verbose, gpu=gpu
    )
    for name, value in PINNED_FAISS_OPTIONS.items():
        if hasattr(km.cp, name):
            setattr(km.cp, name, value)
    km.train(sample)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def _train_torch(
    sample: np.ndarray, k: int, niter: int, seed: int, device: str, block_rows: int = 8192
) -> np.ndarray:
    """Spherical Lloyd iterations in torch; deterministic (no atomics: sums are matmuls).

    An empty cluster keeps its previous centroid (faiss instead splits a large cluster).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(sample).to(device)
    cent = x[torch.randperm(len(x), generator=generator)[:k].to(device)].clone()
    cent = torch.nn.functional.normalize(cent, dim=1)
    for _ in range(niter):
        sums = torch.zeros_like(cent)
        counts = torch.zeros(k, dtype=torch.float32, device=device)
        for start in range(0, len(x), block_rows):
            block = x[start : start + block_rows]
            onehot = torch.nn.functional.one_hot((block @ cent.T).argmax(dim=1), k).float()
            sums += onehot.T @ block
            counts += onehot.sum(dim=0)
        fresh = torch.nn.functional.normalize(sums, dim=1)
        cent = torch.where((counts > 0)[:, None], fresh, cent)
    return cent.cpu().numpy().astype(np.float32)
