"""`vlmdata data decontaminate`: every planted leak of a ToyWorld is found, nothing in a clean
one; the suite's benchmarks are found as evaluation finds them; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.cli import main
from toyworld.config import ToyWorldConfig
from toyworld.make import make_world

SMALL = {"pool_size": 300, "benchmark_items_per_skill": 20}
LEAKS = {"leak_exact_images": 5, "leak_jittered_images": 5, "leak_questions": 3}


def _world(path: Path, **config: object) -> Path:
    return make_world(ToyWorldConfig(out_dir=str(path), **config), progress=False)


def _decontaminate(world: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "data",
            "decontaminate",
            str(world / "pool.json"),
            "config=toyworld",
            f"data_root={world}",
            f"out_dir={out}",
            "progress=false",
            *extra,
        ]
    )


def _removed(out: Path) -> dict[str, set[str]]:
    rows = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    return {row["id"]: {m["kind"] for m in row["matches"]} for row in rows}


def _planted(world: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (world / "leaks.jsonl").read_text().splitlines()]
    return {row["id"]: row["kind"] for row in rows}


def _check_finds_exactly_the_leaks(world: Path, out: Path) -> None:
    assert _decontaminate(world, out) == 0
    planted, removed = _planted(world), _removed(out)
    assert set(removed) == set(planted)  # every leak, and nothing else
    assert all(planted[i] in kinds for i, kinds in removed.items())
    kept = json.loads((out / "pool.json").read_text())
    assert kept == json.loads((world / "pool.json").read_text())[: -len(planted)]


def test_finds_every_planted_leak_and_nothing_else(tmp_path: Path, capsys) -> None:
    world = _world(tmp_path / "leaky", **SMALL, **LEAKS)
    _check_finds_exactly_the_leaks(world, tmp_path / "out")
    out = capsys.readouterr().out
    assert (
        "13 of 313 records leak toyworld (exact image 5, near-duplicate 5, question text 3)" in out
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    matched = sum(t["matched_records"]["exact"] for t in report["tasks"].values())
    assert matched == 5 and len(report["tasks"]) == 7


def test_a_clean_world_loses_nothing(tmp_path: Path) -> None:
    world = _world(tmp_path / "clean", **SMALL)
    assert _decontaminate(world, tmp_path / "out") == 0
    assert _removed(tmp_path / "out") == {}
    assert (tmp_path / "out" / "pool.json").read_bytes() == (world / "pool.json").read_bytes()


@pytest.mark.slow
def test_the_default_world_clean_and_with_leaks(tmp_path: Path) -> None:
    """The acceptance at the default world's size (4,000 records, 700 benchmark items)."""
    clean = _world(tmp_path / "clean")
    assert _decontaminate(clean, tmp_path / "clean-out") == 0
    assert _removed(tmp_path / "clean-out") == {}
    leaks = {"leak_exact_images": 10, "leak_jittered_images": 10, "leak_questions": 8}
    _check_finds_exactly_the_leaks(_world(tmp_path / "leaky", **leaks), tmp_path / "leaky-out")


def test_tasks_without_local_data(tmp_path: Path, capsys) -> None:
    world = _world(tmp_path / "w", **SMALL)
    empty = tmp_path / "empty"
    empty.mkdir()
    pool = str(world / "pool.json")
    args = ["data", "decontaminate", pool, "config=toyworld", f"data_root={empty}"]
    code = main([*args, f"out_dir={tmp_path / 'a'}", "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "task 'toyworld_colour' has no local data" in err and "missing=skip" in err
    code = main([*args, f"out_dir={tmp_path / 'b'}", "missing=skip", "progress=false"])
    assert code == 0
    assert "not checked (no local data under data_root): toyworld_colour" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "report.json").read_text())["records"]["removed"] == 0


def test_only_checks_the_named_tasks(tmp_path: Path) -> None:
    world = _world(tmp_path / "leaky", **SMALL, **LEAKS)
    code = _decontaminate(world, tmp_path / "out", "only=[toyworld_spatial]", "kinds=[text]")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["tasks_checked"] == ["toyworld_spatial"]
    planted = _planted(world)
    assert set(_removed(tmp_path / "out")) == {i for i, k in planted.items() if k == "text"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["config=default"], "config key 'suite' is required"),
        (["config=nope", "suite=toyworld"], "no config 'nope' in group 'decontaminate'"),
        (["suite=nope"], "unknown suite 'nope'"),
        (["suite=toyworld", "near.max_hamming=99"], "near.max_hamming: must lie in 0..64"),
        (["suite=toyworld", "near.sharpness=1"], "sharpness"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    pool = tmp_path / "pool.json"
    pool.write_text("[]")
    code = main(["data", "decontaminate", str(pool), f"data_root={tmp_path}", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
