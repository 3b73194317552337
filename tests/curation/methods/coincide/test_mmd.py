"""Greedy MMD with running sums selects exactly what the naive reference algorithm selects."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.methods.coincide.mmd import DenseKernel, RowKernel, density, greedy_mmd
from curation.methods.coincide.naive import naive_greedy_mmd, naive_kernel


def _points(seed: int, n: int, dim: int, duplicates: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for _ in range(min(duplicates, n - 1)):  # exact copies: ties the selection must break
        src, dst = rng.integers(0, n, size=2)
        x[dst] = x[src]
    return x


cases = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(1, 14),  # n
    st.integers(1, 6),  # dim
    st.integers(0, 3),  # duplicated rows
    st.sampled_from([0.5, 1.0, 2.0]),  # sigma
    st.floats(0, 1),  # budget as a fraction of n, 0 and n included
)


@settings(max_examples=300, deadline=None)
@given(cases)
def test_running_sum_greedy_equals_naive(case):
    seed, n, dim, duplicates, sigma, fraction = case
    x = _points(seed, n, dim, duplicates)
    budget = round(fraction * n)
    kernel = naive_kernel(x, sigma)
    expected = naive_greedy_mmd(kernel, budget)
    assert np.array_equal(greedy_mmd(DenseKernel.from_matrix(kernel), budget), expected)
    assert np.array_equal(greedy_mmd(DenseKernel(x, sigma), budget), expected)


@settings(max_examples=60, deadline=None)
@given(cases, st.integers(1, 5))
def test_row_by_row_kernel_equals_naive(case, block_rows):
    seed, n, dim, duplicates, sigma, fraction = case
    x = _points(seed, n, dim, duplicates)
    budget = round(fraction * n)
    kernel = RowKernel(lambda rows: x[rows], n, sigma, block_rows)
    expected = naive_greedy_mmd(naive_kernel(x, sigma), budget)
    assert np.array_equal(greedy_mmd(kernel, budget), expected)
    assert density(kernel) == pytest.approx(naive_kernel(x, sigma).mean(), abs=1e-12)


def test_float16_features_with_chunked_gram():
    """Storage dtype and column chunking do not change the choice (float64 arithmetic)."""
    x = _points(7, 40, 64, 5).astype(np.float16)
    expected = naive_greedy_mmd(naive_kernel(x.astype(np.float64), 1.0), 25)
    assert np.array_equal(greedy_mmd(DenseKernel(x, 1.0, chunk_elems=40 * 7), 25), expected)


def test_duplicates_resolve_to_the_smallest_index():
    x = np.tile(np.eye(3)[:1], (4, 1))  # four identical points
    assert greedy_mmd(DenseKernel(x, 1.0), 4).tolist() == [0, 1, 2, 3]


def test_density_and_edge_budgets():
    single = DenseKernel(np.ones((1, 4)) / 2, 1.0)
    assert density(single) == 1.0
    assert greedy_mmd(single, 1).tolist() == [0]
    x = _points(3, 9, 4, 0)
    assert greedy_mmd(DenseKernel(x, 1.0), 0).size == 0
    assert sorted(greedy_mmd(DenseKernel(x, 1.0), 9).tolist()) == list(range(9))
    with pytest.raises(ValueError, match="outside"):
        greedy_mmd(DenseKernel(x, 1.0), 10)


def test_first_pick_is_the_point_with_the_largest_kernel_mass():
    x = _points(11, 30, 5, 0)
    kernel = naive_kernel(x, 1.0)
    assert greedy_mmd(DenseKernel(x, 1.0), 1)[0] == np.argmax(kernel.sum(axis=0))
