"""Gaussian kernels inside one cluster and COINCIDE's greedy MMD (see README.md here).

k(x, y) = exp(-||x - y||^2 / (2 sigma^2)) in float64. A cluster's kernel is held whole when it
fits the memory budget (`DenseKernel`); otherwise its rows are computed on demand in bounded
blocks (`RowKernel`). Greedy MMD only needs the column sums and one kernel row per pick:

    MMD^2(X, S + c) = const + (2 r[c] + k(c, c)) / (m + 1)^2 - 2 colsum[c] / (n (m + 1))

with r[c] = sum over s in S of k(s, c), so each step is O(n) instead of the reference's
O(n (n m + m^2)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

# Candidates whose MMD^2 is within this of the best are ties, resolved to the smallest index.
# Exact ties (duplicate samples: common with float16 features) would otherwise be decided by
# rounding noise (~1e-16), which differs between BLAS builds and block shapes.
TIE_ATOL = 1e-12

RowReader = Callable[[np.ndarray], np.ndarray]  # local row numbers -> float64 rows


class ClusterKernel(Protocol):
    n: int
    colsum: np.ndarray  # (n,) sum over x of k(x, c)
    diag: np.ndarray  # (n,) k(c, c)

    def row(self, i: int) -> np.ndarray: ...


def density(kernel: ClusterKernel) -> float:
    """D = mean of the n x n kernel matrix, diagonal included (1 for a singleton)."""
    return float(kernel.colsum.sum() / (kernel.n * kernel.n))


def _matmul_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T in float64 through torch, whose thread count the caller controls (OpenBLAS's
    threads make numpy's small products ~10x slower on a busy 2-core machine)."""
    import torch

    return (torch.from_numpy(a) @ torch.from_numpy(b).T).numpy()


def _kernel_from_gram(
    gram: np.ndarray, sq_a: np.ndarray, sq_b: np.ndarray, sigma: float
) -> np.ndarray:
    dist = sq_a[:, None] + sq_b[None, :] - 2.0 * gram
    np.maximum(dist, 0.0, out=dist)
    dist *= -1.0 / (2.0 * sigma * sigma)
    return np.exp(dist, out=dist)


class DenseKernel:
    """The whole n x n kernel of a cluster whose rows fit in memory.

    The Gram matrix is accumulated over column chunks of at most `chunk_elems / n` features, so
    the float64 copy of the rows never exceeds `chunk_elems` values. Squared norms are the Gram
    diagonal, which makes k(x, x) exactly 1.
    """

    def __init__(self, rows: np.ndarray, sigma: float, chunk_elems: int = 1 << 24) -> None:
        n, dim = rows.shape
        step = max(1, min(dim, chunk_elems // max(n, 1)))
        gram = np.zeros((n, n), dtype=np.float64)
        for start in range(0, dim, step):
            part = np.ascontiguousarray(rows[:, start : start + step], dtype=np.float64)
            gram += _matmul_t(part, part)
        gram += gram.T  # exactly symmetric (gemm need not be)
        gram *= 0.5
        sq = np.diagonal(gram).copy()
        self.n = n
        self.matrix = _kernel_from_gram(gram, sq, sq, sigma)
        self.colsum = self.matrix.sum(axis=0)
        self.diag = np.diagonal(self.matrix).copy()

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> DenseKernel:
        """Wrap a precomputed symmetric kernel matrix (tests, other kernels)."""
        self = cls.__new__(cls)
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.n = len(self.matrix)
        self.colsum = self.matrix.sum(axis=0)
        self.diag = np.diagonal(self.matrix).copy()
        return self

    def row(self, i: int) -> np.ndarray:
        return self.matrix[i]


class RowKernel:
    """Kernel rows of a cluster too large to hold its n x n kernel, computed on demand.

    `read(rows)` returns the float64 feature rows at local positions `rows`; at most
    `block_rows` rows are converted at a time, so memory stays O(block_rows * (n + dim)).
    Column sums take one pass over all row blocks; each `row(i)` one pass over the columns.
    """

    def __init__(self, read: RowReader, n: int, sigma: float, block_rows: int) -> None:
        self.read, self.n, self.sigma = read, n, sigma
        self.block_rows = max(1, block_rows)
        self.sq = np.empty(n, dtype=np.float64)
        for start, block in self._blocks():
            self.sq[start : start + len(block)] = np.einsum("ij,ij->i", block, block)
        self.colsum = np.zeros(n, dtype=np.float64)
        for start, block in self._blocks():
            rows = np.arange(start, start + len(block))
            part = self._against_all(block, self.sq[rows], rows)
            self.colsum += part.sum(axis=0)
        self.diag = np.ones(n, dtype=np.float64)

    def _blocks(self):
        for start in range(0, self.n, self.block_rows):
            stop = min(self.n, start + self.block_rows)
            yield start, np.ascontiguousarray(self.read(np.arange(start, stop)), dtype=np.float64)

    def _against_all(self, block: np.ndarray, sq_block: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(block), self.n), dtype=np.float64)
        for start, other in self._blocks():
            stop = start + len(other)
            out[:, start:stop] = _kernel_from_gram(
                _matmul_t(block, other), sq_block, self.sq[start:stop], self.sigma
            )
        out[np.arange(len(rows)), rows] = 1.0  # k(x, x) = exp(0) exactly
        return out

    def row(self, i: int) -> np.ndarray:
        rows = np.array([i])
        block = np.ascontiguousarray(self.read(rows), dtype=np.float64)
        return self._against_all(block, self.sq[rows], rows)[0]


def greedy_mmd(kernel: ClusterKernel, budget: int) -> np.ndarray:
    """Local indices of `budget` points chosen one at a time to minimise MMD^2(X, S), in the
    order chosen. Ties (within TIE_ATOL on the MMD^2 scale) go to the smallest index."""
    n = kernel.n
    if not 0 <= budget <= n:
        raise ValueError(f"greedy MMD budget {budget} is outside 0..{n}")
    chosen = np.zeros(n, dtype=bool)
    out = np.empty(budget, dtype=np.int64)
    running = np.zeros(n, dtype=np.float64)  # r[c]
    half_diag = 0.5 * kernel.diag
    for m in range(budget):
        # (m + 1)^2 / 2 * MMD^2 up to a constant: lower is better
        objective = running + half_diag - ((m + 1) / n) * kernel.colsum
        objective[chosen] = np.inf
        best = objective.min()
        pick = int(np.argmax(objective <= best + TIE_ATOL * 0.5 * (m + 1) ** 2))
        out[m] = pick
        chosen[pick] = True
        if m + 1 < budget:
            running += kernel.row(pick)
    return out
