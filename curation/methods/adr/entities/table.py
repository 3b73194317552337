"""A sample x entity count matrix for one ADR perspective, and its reverse index.

Rows are pool samples in pool order, columns are entities in sorted order; a cell holds how
often the entity occurs in the sample (mentions for `token`, 0/1 for the de-duplicated
perspectives). Column sums are the n_e of ADR's long-tail rule (../README.md). Stored as .npz
without pickles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from curation.data.fileio import atomic_open


@dataclass(frozen=True)
class EntityTable:
    perspective: str
    vocab: list[str]  # column -> entity, sorted
    matrix: sp.csr_matrix  # (n_samples, n_entities), int32 counts

    @classmethod
    def from_lists(cls, perspective: str, lists: Sequence[Iterable[str]]) -> EntityTable:
        """Build from one entity list per sample; repeats inside a list are counted."""
        lists = [list(entities) for entities in lists]
        vocab = sorted({entity for entities in lists for entity in entities})
        column = {entity: j for j, entity in enumerate(vocab)}
        lengths = np.fromiter((len(e) for e in lists), dtype=np.int64, count=len(lists))
        rows = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
        cols = np.fromiter(
            (column[e] for entities in lists for e in entities),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        return cls.from_pairs(perspective, vocab, rows, cols, len(lists))

    @classmethod
    def from_pairs(
        cls, perspective: str, vocab: list[str], rows: np.ndarray, cols: np.ndarray, n_samples: int
    ) -> EntityTable:
        """(sample, entity column) pairs, one per mention; duplicates add up."""
        data = np.ones(rows.shape[0], dtype=np.int32)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(n_samples, len(vocab)), dtype=np.int32)
        matrix.sum_duplicates()
        matrix.sort_indices()
        return cls(perspective, list(vocab), matrix)

    @property
    def n_samples(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def counts(self) -> np.ndarray:
        """n_e per entity (column order): mentions summed over samples."""
        return np.asarray(self.matrix.sum(axis=0, dtype=np.int64)).ravel()

    def count_dict(self) -> dict[str, int]:
        return dict(zip(self.vocab, self.counts.tolist(), strict=True))

    @property
    def has_entities(self) -> np.ndarray:
        """Per sample: does it hold any entity of this perspective?"""
        return np.diff(self.matrix.indptr) > 0

    def reverse_index(self) -> sp.csc_matrix:
        """Entity -> samples: column j's row indices are the samples holding entity j."""
        return self.matrix.tocsc()

    def samples_of(self, entity: str) -> np.ndarray:
        j = self.vocab.index(entity)
        column = self.matrix[:, j].tocoo()
        return np.sort(column.row.astype(np.int64))

    def entities_of(self, sample: int) -> list[str]:
        start, end = self.matrix.indptr[sample], self.matrix.indptr[sample + 1]
        cols, reps = self.matrix.indices[start:end], self.matrix.data[start:end]
        return [
            self.vocab[j]
            for j, r in zip(cols.tolist(), reps.tolist(), strict=True)
            for _ in range(r)
        ]

    def rows(self, indices: np.ndarray) -> EntityTable:
        """The table restricted to some samples (in the given order), same columns."""
        return EntityTable(self.perspective, self.vocab, self.matrix[np.asarray(indices)].tocsr())

    def stack(self, other: EntityTable) -> EntityTable:
        """Rows of self then other, over the union of their vocabularies."""
        vocab = sorted(set(self.vocab) | set(other.vocab))
        return EntityTable(
            self.perspective,
            vocab,
            sp.vstack([self._reindexed(vocab), other._reindexed(vocab)]).tocsr(),
        )

    def _reindexed(self, vocab: list[str]) -> sp.csr_matrix:
        position = {entity: j for j, entity in enumerate(vocab)}
        mapping = np.array([position[e] for e in self.vocab], dtype=np.int64)
        coo = self.matrix.tocoo()
        return sp.csr_matrix(
            (coo.data, (coo.row, mapping[coo.col])),
            shape=(self.n_samples, len(vocab)),
            dtype=np.int32,
        )

    def save(self, path: str | Path) -> None:
        vocab = np.frombuffer(json.dumps(self.vocab, ensure_ascii=False).encode(), dtype=np.uint8)
        with atomic_open(path, "wb") as handle:
            np.savez(
                handle,
                indptr=self.matrix.indptr,
                indices=self.matrix.indices,
                data=self.matrix.data,
                shape=np.array(self.matrix.shape, dtype=np.int64),
                vocab=vocab,
                perspective=np.frombuffer(self.perspective.encode(), np.uint8),
            )

    @classmethod
    def load(cls, path: str | Path) -> EntityTable:
        with np.load(path, allow_pickle=False) as npz:
            shape = tuple(int(v) for v in npz["shape"])
            matrix = sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
            vocab = json.loads(npz["vocab"].tobytes().decode())
            perspective = npz["perspective"].tobytes().decode()
        return cls(perspective, vocab, matrix)


def co_occurrence_lists(object_lists: Iterable[Sequence[str]]) -> list[list[str]]:
    """Every unordered pair of distinct objects per sample, as "a,b" with a < b."""
    pairs = []
    for objects in object_lists:
        distinct = sorted(set(objects))
        pairs.append([f"{a},{b}" for i, a in enumerate(distinct) for b in distinct[i + 1 :]])
    return pairs
