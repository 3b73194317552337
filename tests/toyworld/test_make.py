"""make_world: the files, their contract, determinism, atomicity and resumption."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from curation.data.fileio import sha256_file
from curation.data.records import load_records
from toyworld import make as make_module
from toyworld.config import SKILLS
from toyworld.make import make_world

EXPECTED_FILES = [
    "annotations.jsonl",
    "config.yaml",
    "entities.jsonl",
    "pool.json",
    "world.json",
    *(f"benchmarks/{skill}.parquet" for skill in SKILLS),
]


def hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_world_has_the_contract_files(world: Path) -> None:
    for name in EXPECTED_FILES:
        assert (world / name).is_file(), name
    pool = json.loads((world / "pool.json").read_text())
    assert len(pool) == 300
    assert len(list((world / "images").glob("*.png"))) == sum("image" in r for r in pool)
    assert not [p for p in world.parent.iterdir() if p.name.startswith(".tmp-")]


def test_same_seed_gives_identical_bytes(world: Path, world_again: Path) -> None:
    assert hashes(world) == hashes(world_again)


def test_other_seed_differs(world: Path, world_other_seed: Path) -> None:
    first, other = hashes(world), hashes(world_other_seed)
    for name in (
        "pool.json",
        "entities.jsonl",
        "images/tw-000000.png",
        "benchmarks/colour.parquet",
    ):
        assert first.get(name) != other.get(name), name


def test_world_json_lists_every_file_with_its_hash(world: Path) -> None:
    summary = json.loads((world / "world.json").read_text())
    listed = {entry["path"]: entry["sha256"] for entry in summary["files"]}
    on_disk = hashes(world)
    on_disk.pop("world.json")
    assert listed == on_disk
    assert summary["config"]["pool_size"] == 300 and "out_dir" not in summary["config"]
    assert set(summary["longtail"]) == {"token", "object", "co_occurrence", "interrogation"}
    assert set(summary["benchmarks"]) == set(SKILLS)


def test_pool_records_are_valid_llava(world: Path) -> None:
    loaded = load_records(world / "pool.json", image_root=world)
    assert len(loaded.records) == 300 and not any(loaded.skipped.values())
    for record in loaded.records:
        human = [m["value"] for m in record["conversations"] if m["from"] == "human"]
        assert len(record["skills"]) == len(human)
        if "image" in record:
            assert human[0].startswith("<image>\n")
            assert sum(text.count("<image>") for text in human) == 1
        else:
            assert record["skills"] == ["text"] * len(human)
            assert not any("<image>" in m["value"] for m in record["conversations"])


def test_pool_mixes_turn_counts_text_only_and_all_skills(world: Path) -> None:
    pool = json.loads((world / "pool.json").read_text())
    assert {len(r["skills"]) for r in pool} == {1, 2, 3}
    assert sum("image" not in r for r in pool) == 15  # text_only_fraction 0.05
    assert {s for r in pool for s in r["skills"]} == {*SKILLS, "text"}


def test_annotations_match_records_and_images(world: Path) -> None:
    pool = {r["id"]: r for r in json.loads((world / "pool.json").read_text())}
    annotations = jsonl(world / "annotations.jsonl")
    assert [a["id"] for a in annotations] == [i for i, r in pool.items() if "image" in r]
    for annotation in annotations:
        assert annotation["image"] == pool[annotation["id"]]["image"]
        with Image.open(world / annotation["image"]) as image:
            assert image.mode == "RGB" and image.size == (32, 32)
        assert 1 <= len(annotation["objects"]) <= 4
        for obj in annotation["objects"]:
            x0, y0, x1, y1 = obj["bbox"]
            assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32
            assert obj["size"] in ("small", "large")


def test_entities_cover_every_sample(world: Path) -> None:
    pool = json.loads((world / "pool.json").read_text())
    entities = jsonl(world / "entities.jsonl")
    assert [e["id"] for e in entities] == [r["id"] for r in pool]
    annotations = {a["id"]: a for a in jsonl(world / "annotations.jsonl")}
    for row in entities:
        objects = annotations.get(row["id"], {"objects": []})["objects"]
        assert row["object"] == sorted({f"{o['colour']} {o['shape']}" for o in objects})
        assert all(
            pair.count(",") == 1 and pair == ",".join(sorted(pair.split(",")))
            for pair in row["co_occurrence"]
        )
        assert len(row["interrogation"]) == len(set(row["interrogation"])) >= 1


def test_duplicates_repeat_a_head_sample_conversation(world: Path) -> None:
    pool = {r["id"]: r for r in json.loads((world / "pool.json").read_text())}
    annotations = {a["id"]: a for a in jsonl(world / "annotations.jsonl")}
    copies = [a for a in annotations.values() if a["duplicate_of"]]
    assert {a["duplicate_kind"] for a in copies} == {"near", "template"}
    assert len(copies) == 2 * 24  # 8 % each of 300
    for copy in copies:
        source = annotations[copy["duplicate_of"]]
        assert pool[copy["id"]]["conversations"] == pool[source["id"]]["conversations"]
        same_objects = [(o["shape"], o["colour"], o["size"]) for o in copy["objects"]]
        assert same_objects == [(o["shape"], o["colour"], o["size"]) for o in source["objects"]]
        if copy["duplicate_kind"] == "near":
            shifts = {
                (c["bbox"][0] - s["bbox"][0], c["bbox"][1] - s["bbox"][1])
                for c, s in zip(copy["objects"], source["objects"], strict=True)
            }
            assert len(shifts) == 1 and max(map(abs, shifts.pop())) <= 1


def test_a_killed_make_leaves_no_half_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_config: Callable
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(make_module, "_write_benchmarks", crash)
    with pytest.raises(KeyboardInterrupt):
        make_world(small_config(tmp_path / "world", pool_size=40), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_world_is_kept_unless_forced(
    world: Path, capsys: pytest.CaptureFixture, small_config: Callable
) -> None:
    before = (world / "world.json").stat().st_mtime_ns
    make_world(small_config(world), progress=False)
    assert "up to date" in capsys.readouterr().out
    assert (world / "world.json").stat().st_mtime_ns == before


def test_make_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture, small_config: Callable
) -> None:
    make_world(
        small_config(tmp_path / "w", pool_size=40, benchmark_items_per_skill=4), progress=False
    )
    out = capsys.readouterr().out
    assert "written to" in out and "Long tail:" in out and "Benchmarks:" in out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shapes": ["circle", "blob", "star", "ring"]}, "toyworld.shapes: unknown blob"),
        ({"pool_size": 5}, "toyworld.pool_size"),
        ({"q_object": 1.5}, "toyworld.q_object"),
        ({"skills": ["colour", "juggling"]}, "toyworld.skills"),
    ],
)
def test_bad_config_is_one_clear_line(
    tmp_path: Path, overrides: dict, message: str, small_config: Callable
) -> None:
    with pytest.raises(ValueError, match=message) as error:
        make_world(small_config(tmp_path / "w", **overrides), progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "w").exists()


def test_a_directory_that_is_not_a_world_is_never_replaced(
    tmp_path: Path, small_config: Callable
) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a ToyWorld"):
        make_world(small_config(tmp_path, pool_size=40), progress=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_file_where_the_world_goes_is_one_line(
    tmp_path: Path, small_config: Callable, below: str
) -> None:
    from configs.errors import UserError

    (tmp_path / "taken").write_text("a file")
    with pytest.raises(UserError, match="taken is a file, not a directory") as error:
        make_world(small_config(tmp_path / "taken" / below, pool_size=40), progress=False)
    assert isinstance(error.value, FileExistsError) and "\n" not in str(error.value)
    assert (tmp_path / "taken").read_text() == "a file"
