"""Random selection: the main stream is the seed's plain draw; another stream (the A/A arm)
draws another subset of the same size, deterministically."""

from pathlib import Path

import numpy as np

from curation.method import CurationContext
from curation.registry import build_method


def _ctx(n: int, seed: int) -> CurationContext:
    records = [{"id": str(i), "conversations": []} for i in range(n)]
    here = Path("unused")
    return CurationContext(here / "pool.json", None, records, "0" * 64, here, here, seed)


def _draw(seed: int, stream: str = "", n: int = 500, budget: int = 100) -> list[int]:
    method = build_method("random", {"match": "", "stream": stream})
    return method.select(_ctx(n, seed), budget).indices.tolist()


def test_the_main_stream_is_the_seeds_own_permutation():
    # subsets drawn before streams existed keep their bytes
    assert _draw(7) == np.random.default_rng(7).permutation(500)[:100].tolist()


def test_the_aa_stream_draws_another_subset_of_the_same_size():
    for seed in (0, 1, 2):
        main, aa = _draw(seed), _draw(seed, "aa")
        assert len(aa) == len(set(aa)) == len(main) == 100
        assert set(aa) != set(main)
        assert _draw(seed, "aa") == aa  # deterministic
    assert _draw(0, "aa") != _draw(1, "aa")  # and still seeded
    assert _draw(0, "aa") != _draw(0, "bb")


def test_the_stream_is_recorded_in_the_details():
    method = build_method("random", {"stream": "aa"})
    assert method.select(_ctx(10, 0), 3).details == {"stream": "aa"}
    assert build_method("random", {}).select(_ctx(10, 0), 3).details == {}
