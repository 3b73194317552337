"""`vlmdata analyze`: the long-tail report of an ADR subset (before and after rebalancing) and of a
pool, on an 800-sample ToyWorld (the `toyworld` fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from experiments.cli import main


@pytest.mark.slow
def test_analyze_command_before_and_after(toyworld, tmp_path, capsys):
    out = tmp_path / "dr"
    assert (
        main(
            [
                "curate",
                "method=adr_dr",
                f"data.toyworld.out_dir={toyworld}",
                f"out_dir={out}",
                f"cache_dir={tmp_path / 'cache'}",
                "progress=false",
            ]
        )
        == 0
    )
    assert (
        main(["analyze", f"subset={out}", f"cache_dir={tmp_path / 'cache'}", "progress=false"]) == 0
    )
    printed = capsys.readouterr().out
    assert "interrogation" in printed and "subset tail" in printed
    written = sorted(p.name for p in (out / "longtail").iterdir())
    assert written == [
        "config.yaml",
        "longtail.json",
        "longtail.txt",
        "rank_frequency_co_occurrence.png",
        "rank_frequency_interrogation.png",
        "rank_frequency_object.png",
        "rank_frequency_token.png",
    ]
    assert (
        main(
            [
                "analyze",
                f"data.toyworld.out_dir={toyworld}",
                f"out_dir={tmp_path / 'pool'}",
                f"cache_dir={tmp_path / 'cache'}",
                "progress=false",
            ]
        )
        == 0
    )
    assert (tmp_path / "pool" / "rank_frequency_token.png").is_file()
