"""The oracle on a generated ToyWorld: reads the world's files, keeps the budget, is marked
as a control, and its kept-per-cell counts are those of its picks."""

from collections import Counter

import pytest

from curation.methods.oracle.ground_truth import record_cells
from curation.registry import build_method
from curation.run import load_context


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    out = tmp_path_factory.mktemp("oracle") / "world"
    make_world(
        ToyWorldConfig(out_dir=str(out), pool_size=200, benchmark_items_per_skill=2),
        progress=False,
    )
    return out


def test_oracle_on_a_toyworld(small_world, tmp_path):
    _, ctx = load_context(
        small_world / "pool.json",
        small_world,
        tmp_path / "cache",
        tmp_path / "out",
        0,
        "raise",
        False,
    )
    method = build_method("oracle", {"entities": ""})
    assert method.control == "oracle"
    selection = method.select(ctx, 40)
    picks = selection.indices.tolist()
    assert len(picks) == len(set(picks)) == 40
    cells_of = record_cells(ctx.records, ctx.pool_path)
    kept = Counter(cell for i in picks for cell in cells_of[i])
    details = selection.details
    assert details["cells"] == len({cell for cells in cells_of for cell in cells})
    assert details["cells_kept"] == len(kept)
    assert details["kept_per_cell"]["max"] == max(kept.values())
    assert details["text_only_cells"] == 1  # ToyWorld's text-only records: one skill, no object
    again = build_method("oracle", {}).select(ctx, 40)
    assert again.indices.tolist() == picks
