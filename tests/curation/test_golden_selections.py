"""Golden selections: the sha256 of indices.npy for every model-free method's shipped preset on a
fixed synthetic pool. A change that moves a selection fails here; if intended, rewrite the
golden file with `pytest --update-golden` and review its diff.

Only exact things are hashed: the pool is integer-built text (no floats, no images read), and
the model-free methods select with integer draws (random, oracle) or entity counts (adr_dr),
so the hashes are the same on every CPU.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from configs.compose import compose, config_path
from curation.config import CurationConfig
from curation.data.records import write_records
from curation.registry import build_method
from curation.run import curate

GOLDEN = Path(__file__).parent / "golden" / "selections.json"
# (name of the entry, preset, overrides): every model-free preset, ADR's DR also at a budget
PRESETS = [
    ("full", "full", []),
    ("random", "random", []),
    ("random_aa", "random_aa", []),
    ("oracle_toyworld", "oracle_toyworld", []),
    ("adr_dr", "adr_dr", []),
    ("adr_dr_toyworld", "adr_dr_toyworld", []),
    ("adr_dr_keep_empty", "adr_dr", ["params.keep_empty=true"]),
]
COLOURS = ["red"] * 8 + ["blue"] * 4 + ["green"] * 2 + ["teal"]
SHAPES = ["circle"] * 9 + ["square"] * 4 + ["star", "moon"]
# question families, head to tail: the interrogation perspective gets a long tail too
QUESTIONS = (
    [("What colour is the {shape}?", "{colour}")] * 10
    + [("Is there a {shape}?", "Yes")] * 5
    + [("How many {shape}s are there?", "Two")] * 2
    + [("Where is the {shape}?", "Left"), ("Why is the {shape} {colour}?", "Paint")]
)
SKILLS = ["colour", "shape", "counting"]


def _pool(root: Path) -> Path:
    """240 records (every 12th text-only, every 40th without any entity: digits only) with a
    ToyWorld-style ground truth (entities.jsonl, skills) and object annotations beside it."""
    rng = random.Random(17)  # Python's Mersenne Twister: the same draws on every platform
    records, annotations, truth = [], [], []
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (4, 4), (9, 9, 9)).save(root / "img" / "x.png")
    for i in range(240):
        rid = f"g{i:03d}"
        objects = sorted({f"{rng.choice(COLOURS)} {rng.choice(SHAPES)}" for _ in range(2)})
        turns = []
        for obj in objects:
            colour, shape = obj.split()
            question, answer = rng.choice(QUESTIONS)
            turns.append(
                (question.format(shape=shape, colour=colour), answer.format(colour=colour))
            )
        record: dict = {"id": rid, "skills": [SKILLS[i % 3]], "conversations": []}
        if i % 40 == 39:  # no noun, no object, no question word: no entity anywhere
            turns, objects = [("1 2 3", "4")], []
        elif i % 12 == 11:
            objects = []  # text-only: no objects
        else:
            record["image"] = "img/x.png"
            turns[0] = ("<image>\n" + turns[0][0], turns[0][1])
        for question, answer in turns:
            record["conversations"] += [
                {"from": "human", "value": question},
                {"from": "gpt", "value": answer},
            ]
        records.append(record)
        annotations.append({"id": rid, "objects": objects})
        truth.append({"id": rid, "object": objects})
    path = root / "pool.json"
    write_records(path, records)
    (root / "annotations.jsonl").write_text("".join(json.dumps(a) + "\n" for a in annotations))
    (root / "entities.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def selections(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("golden")
    pool = _pool(root)
    found = {"pool_sha256": _sha256(pool), "selections": {}}
    for name, preset, overrides in PRESETS:
        cfg = compose(CurationConfig, config_path("curation", preset), overrides)
        subset = curate(
            build_method(cfg.method, cfg.params),
            pool_path=pool,
            image_root=root,
            budget=cfg.budget,
            seed=cfg.seed,
            out_dir=root / "subsets" / name,
            cache_root=root / "cache",
            config={"method": cfg.method},
            progress=False,
        )
        found["selections"][name] = {
            "n": len(subset),
            "indices_sha256": _sha256(subset.path / "indices.npy"),
        }
    return found


def test_model_free_selections_match_the_golden_file(selections, update_golden):
    if update_golden:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(selections, indent=2, sort_keys=True) + "\n")
        return
    assert GOLDEN.is_file(), f"no {GOLDEN}: run `pytest --update-golden` once and commit it"
    golden = json.loads(GOLDEN.read_text())
    assert selections["pool_sha256"] == golden["pool_sha256"], (
        "the test's pool changed (this file's _pool), not a selection: regenerate the golden "
        "file with `pytest --update-golden` if that was intended"
    )
    for name, expected in golden["selections"].items():
        assert selections["selections"].get(name) == expected, (
            f"{name}: the selection changed; if intended, `pytest --update-golden` and review"
        )
    assert set(selections["selections"]) == set(golden["selections"])


def test_the_pool_exercises_what_the_methods_distinguish(selections):
    picked = selections["selections"]
    assert picked["full"]["n"] == 240
    assert picked["random"]["n"] == picked["oracle_toyworld"]["n"] == 48  # budget 0.2
    assert picked["random"]["indices_sha256"] != picked["random_aa"]["indices_sha256"]
    # six records have no entity in any perspective: keep_empty decides their fate
    assert picked["adr_dr_keep_empty"]["n"] - picked["adr_dr"]["n"] == 6
    assert picked["adr_dr"]["n"] < 240 - 6  # the DR rule drops head samples too
