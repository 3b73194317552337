"""`vlmdata data validate`: image paths confined to the image root unless image_paths=any,
record caps configurable (a 50 MB turn is refused or skipped); refusals are one line that does not
tell whether a file exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from experiments.cli import main


def record(image: str) -> dict:
    return {
        "id": "r",
        "image": image,
        "conversations": [
            {"from": "human", "value": "<image>\nWhat?"},
            {"from": "gpt", "value": "red"},
        ],
    }


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    Image.new("RGB", (4, 4), "red").save(tmp_path / "outside.png")
    return tmp_path


@pytest.mark.parametrize(
    "image", ["../outside.png", "../missing.png", "/etc/hostname", "/no/such.png"]
)
def test_outside_paths_are_refused_alike(layout, capsys, image):
    pool = layout / "pool.jsonl"
    pool.write_text(json.dumps(record(image)) + "\n")
    code = main(["data", "validate", str(pool), f"image_root={layout / 'root'}", "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.endswith(
        f"image_outside_root: image path {image!r} is absolute or has a '..' "
        "component; image_paths=inside refuses it (image_paths=any allows it)"
    )


def test_image_paths_any_and_configurable_limits(layout, capsys):
    pool = layout / "pool.jsonl"
    pool.write_text(json.dumps(record("../outside.png")) + "\n")
    root = f"image_root={layout / 'root'}"
    assert main(["data", "validate", str(pool), root, "image_paths=any", "progress=false"]) == 0
    assert "all 1 records are valid" in capsys.readouterr().out
    code = main(
        [
            "data",
            "validate",
            str(pool),
            root,
            "image_paths=any",
            "limits.max_turns=1",
            "progress=false",
        ]
    )
    assert code == 2 and "too_many_turns" in capsys.readouterr().err


def test_validate_refuses_or_skips_a_50mb_turn(huge_pool, capsys):
    code = main(["data", "validate", str(huge_pool), "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "record 1 (id='huge'): turn_too_long: turn 1 has 52,428,800 characters" in err

    code = main(["data", "validate", str(huge_pool), "on_error=skip", "progress=false"])
    assert code == 1 and "turn_too_long" in capsys.readouterr().out
