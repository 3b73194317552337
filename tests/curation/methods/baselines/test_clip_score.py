"""CLIP-Score: record texts, the tiny CLIP (tokenizer, deterministic training, offline loading)
and scoring (text-only records are NaN and rank last)."""

import json

import numpy as np
import pytest
from PIL import Image

from curation.data.fileio import sha256_json
from curation.features.clip import (
    TinyClipRecipe,
    build_tiny_clip,
    clip_scores,
    load_clip,
    record_text,
    resolve_clip,
)
from curation.method import CurationContext
from curation.methods.baselines.clip_score import (
    ClipScoreParams,
    ClipScoreSelection,
    mean_per_record,
    one_row_per_image,
)

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _record(i: int, colour: str | None) -> dict:
    if colour is None:
        return {
            "id": f"t{i}",
            "conversations": [
                {"from": "human", "value": "Name a colour."},
                {"from": "gpt", "value": "Red."},
            ],
        }
    return {
        "id": f"r{i}",
        "image": f"{i}.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": f"It is {colour}."},
        ],
    }


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip-pool")
    records = []
    for i in range(9):
        colour = None if i == 4 else list(COLOURS)[i % 3]
        if colour is not None:
            Image.new("RGB", (40, 32), COLOURS[colour]).save(root / f"{i}.png")
        records.append(_record(i, colour))
    return root, records


def test_record_text_joins_turns_without_the_image_token():
    record = _record(0, "red")
    assert record_text(record, "conversation") == "What colour is it?\nIt is red."
    assert record_text(record, "answers") == "It is red."
    with pytest.raises(ValueError, match="conversation"):
        record_text(record, "questions")


def test_tiny_tokenizer_ends_every_text_with_eos_even_when_truncated():
    _, tokenizer, _ = build_tiny_clip(["what colour is it", "it is red"], TinyClipRecipe())
    ids = tokenizer("it is red")["input_ids"]
    assert ids[0] == 2 and ids[-1] == 3 and 1 not in ids  # bos, eos, no unknown word
    long = tokenizer(" ".join(["red"] * 200), truncation=True, max_length=77)["input_ids"]
    assert len(long) == 77 and long[-1] == 3
    assert tokenizer("purple")["input_ids"] == [2, 1, 3]


def test_tiny_clip_training_is_deterministic_and_cached(pool, tmp_path):
    root, records = pool
    recipe = TinyClipRecipe(steps=3, batch_size=4)
    first, fingerprint = resolve_clip(
        "tiny", records, root, "a" * 64, tmp_path / "c1", recipe, progress=False
    )
    second, same = resolve_clip(
        "tiny", records, root, "a" * 64, tmp_path / "c2", recipe, progress=False
    )
    assert fingerprint == same and fingerprint.startswith("tiny:")
    weights = [(tmp_path / c).glob("clip/tiny-*/model.safetensors") for c in ("c1", "c2")]
    first_bytes, second_bytes = (next(w).read_bytes() for w in weights)
    assert first_bytes == second_bytes
    assert json.loads((tmp_path / first / "training.json").read_text())["pairs"] == 8
    model, tokenizer, images = load_clip(first)
    assert model.config.text_config.eos_token_id == 3 and images.crop_size["height"] == 32


def test_scores_are_cosines_nan_for_text_only_and_cached(pool, tmp_path):
    root, records = pool
    path, fingerprint = resolve_clip(
        "tiny",
        records,
        root,
        "b" * 64,
        tmp_path,
        TinyClipRecipe(steps=2, batch_size=4),
        progress=False,
    )
    scores = clip_scores(
        records,
        root,
        path,
        fingerprint,
        "conversation",
        tmp_path,
        "b" * 64,
        batch_size=3,
        progress=False,
    )
    assert np.isnan(scores[4]) and np.isfinite(np.delete(scores, 4)).all()
    assert (np.abs(np.delete(scores, 4)) <= 1 + 1e-6).all()
    cached = list((tmp_path / "clip_scores").glob("*.npy"))
    assert len(cached) == 1
    again = clip_scores(
        records,
        root,
        "/nonexistent",
        fingerprint,
        "conversation",
        tmp_path,
        "b" * 64,
        progress=False,
    )  # served from the cache: no model loaded
    assert again.tobytes() == scores.tobytes()


def test_method_ranks_text_only_records_last(pool, tmp_path):
    root, records = pool
    ctx = CurationContext(
        pool_path=root / "pool.json",
        image_root=root,
        records=records,
        pool_sha256="c" * 64,
        cache_dir=tmp_path,
        run_dir=tmp_path,
        seed=0,
        progress=False,
    )
    params = ClipScoreParams(clip_steps=2, clip_batch_size=4)
    selection = ClipScoreSelection(params).select(ctx, 9)
    assert selection.indices.tolist()[-1] == 4
    assert selection.details["scores"]["nan"] == 1
    top = ClipScoreSelection(params).select(ctx, 3)
    scores = selection.details["scores"]
    assert top.details["selected_scores"]["max"] == scores["max"]


def test_a_missing_checkpoint_is_a_one_line_file_not_found_error():
    with pytest.raises(FileNotFoundError, match="not available offline"):
        load_clip("/nonexistent/clip-checkpoint")


# --- multi-image records ---------------------------------------------------------------------


def _two_images(i: int, first: int, second: int) -> dict:
    return {
        "id": f"m{i}",
        "image": [f"{first}.png", f"{second}.png"],
        "conversations": [
            {"from": "human", "value": "<image>\n<image>\nWhat colours are they?"},
            {"from": "gpt", "value": "It is red."},
        ],
    }


def test_a_pool_without_multi_image_records_is_scored_as_before(pool):
    _, records = pool
    rows, owners, sha = one_row_per_image(records, "d" * 64)
    assert rows is records and owners.tolist() == list(range(9)) and sha == "d" * 64


def test_a_multi_image_score_is_the_mean_over_its_images(pool, tmp_path):
    root, records = pool
    mixed = [records[0], _two_images(9, 0, 2), records[4], _two_images(10, 1, 1)]
    rows, owners, sha = one_row_per_image(mixed, "e" * 64)
    assert [row.get("image") for row in rows] == ["0.png", "0.png", "2.png", None, "1.png", "1.png"]
    assert owners.tolist() == [0, 1, 1, 2, 3, 3] and sha != "e" * 64
    path, fingerprint = resolve_clip(
        "tiny", records, root, "f" * 64, tmp_path, TinyClipRecipe(steps=2), progress=False
    )

    def score(recs):
        return clip_scores(
            recs,
            root,
            path,
            fingerprint,
            "conversation",
            tmp_path,
            sha256_json(recs),
            progress=False,
        )

    scores = mean_per_record(score(rows), owners, len(mixed))
    alone = [{**mixed[1], "image": image} for image in ("0.png", "2.png")]
    assert scores[1] == pytest.approx(score(alone).mean(), abs=1e-6)
    same_twice = score([{**mixed[3], "image": "1.png"}])[0]
    assert scores[3] == pytest.approx(same_twice, abs=1e-6)
    assert scores[0] == pytest.approx(score([records[0]])[0], abs=1e-6)
    assert np.isnan(scores[2])


def test_the_method_scores_multi_image_records_above_text_only_ones(pool, tmp_path):
    root, records = pool
    mixed = [*records, _two_images(9, 0, 2)]
    ctx = CurationContext(
        pool_path=root / "pool.json",
        image_root=root,
        records=mixed,
        pool_sha256="g" * 64,
        cache_dir=tmp_path,
        run_dir=tmp_path,
        seed=0,
        progress=False,
    )
    params = ClipScoreParams(clip_steps=2, clip_batch_size=4)
    selection = ClipScoreSelection(params).select(ctx, 10)
    assert selection.indices.tolist()[-1] == 4  # the text-only record, not the 2-image one
    assert selection.details["scores"]["nan"] == 1
