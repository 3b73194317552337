"""`vlmdata curate` holds pool records to the data rules: an image outside the image root is
a one-line error, a counted skip with data.on_error=skip, and used with data.image_paths=any."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from curation.data.subset import read_subset
from experiments.cli import main


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    Image.new("RGB", (4, 4), "red").save(tmp_path / "outside.png")
    records = []
    for i, image in enumerate(["in0.png", "../outside.png", "in2.png", "in3.png"]):
        if image.startswith("in"):
            Image.new("RGB", (4, 4), "blue").save(root / image)
        records.append(
            {
                "id": f"r{i}",
                "image": image,
                "conversations": [
                    {"from": "human", "value": "<image>\nColour?"},
                    {"from": "gpt", "value": "blue"},
                ],
            }
        )
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(records))
    return path


def _curate(pool: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "curate",
            "method=random",
            "budget=1.0",
            "data.kind=llava",
            f"data.pool={pool}",
            f"data.image_root={pool.parent / 'root'}",
            f"out_dir={out}",
            f"cache_dir={pool.parent / 'cache'}",
            "progress=false",
            *extra,
        ]
    )


def test_outside_image_is_refused_in_one_line(pool, tmp_path, capsys):
    assert _curate(pool, tmp_path / "subset") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "record 1 (id='r1'): image_outside_root" in err
    assert not (tmp_path / "subset").exists()


def test_skip_counts_it_and_any_uses_it(pool, tmp_path):
    assert _curate(pool, tmp_path / "skip", "data.on_error=skip") == 0
    skipped = read_subset(tmp_path / "skip")
    assert sorted(skipped.indices.tolist()) == [0, 2, 3]
    assert skipped.manifest["details"]["skipped_pool_records"] == {"image_outside_root": 1}
    assert _curate(pool, tmp_path / "any", "data.image_paths=any") == 0
    assert sorted(read_subset(tmp_path / "any").indices.tolist()) == [0, 1, 2, 3]
