"""The foundation directory: its parts, its manifest, its key, and a finished one kept."""

import json

import pytest

from configs.errors import OutputExistsError
from toyworld.config import ToyWorldConfig
from training.foundation.build import (
    CLIP_DIR,
    LANGUAGE_DIR,
    MANIFEST,
    PROJECTOR_FILE,
    STAGE0_LANGUAGE_DIR,
    build_foundation,
    foundation_key,
)
from training.foundation.recipe import FoundationRecipe, VisionRecipe


def test_a_foundation_holds_its_three_parts_and_a_manifest(small_foundation):
    for part in (CLIP_DIR, LANGUAGE_DIR):
        assert (small_foundation / part / "config.json").is_file()
    assert (small_foundation / PROJECTOR_FILE).is_file()
    manifest = json.loads((small_foundation / MANIFEST).read_text())
    assert set(manifest["seconds"]) == {"corpus", "vision", "language", "align"}
    assert manifest["align"]["global_step"] == 780 // 32 + 1  # one epoch, last batch partial
    assert not (small_foundation / "align" / "checkpoints").exists()
    assert not (small_foundation / STAGE0_LANGUAGE_DIR).exists()
    assert {"shape", "shape_grey", "colour", "colour_grey"} <= set(manifest["checks"]["captions"])


def test_stage_one_reads_the_captions_the_text_only_then_the_grounded_questions(
    small_foundation, small_recipe, world_config
):
    from toyworld.pretraining import grounded_questions, sample_corpus
    from toyworld.render import render_png

    records = json.loads((small_foundation / "corpus" / "captions.json").read_text())
    items = sample_corpus(world_config, small_recipe.corpus_size, "train")
    n = small_recipe.align.text_conversations
    captions, questions = records[: len(items)], records[len(items) : len(items) + n]
    grounded = records[len(items) + n :]
    assert [r["conversations"][1]["value"] for r in captions] == [i.caption for i in items]
    assert all((small_foundation / "corpus" / r["image"]).is_file() for r in captions)
    assert [r["conversations"] for r in questions] == [i.conversations()[:2] for i in items[:n]]
    assert not any("image" in r for r in questions)
    asked = [
        *grounded_questions(world_config, "existence", 60),
        *grounded_questions(world_config, "spatial", 20),
    ]
    assert len(grounded) == len(asked) == 80
    for record, (scene, turn) in zip(grounded, asked, strict=True):
        question, answer = record["conversations"]
        assert question["value"] == f"<image>\n{turn.qa.prompt(turn.short)}"
        assert answer["value"] == turn.qa.answer(turn.short)
        image = (small_foundation / "corpus" / record["image"]).read_bytes()
        assert image == render_png(scene, world_config.image_size, world_config.background_noise)


def test_a_finished_foundation_is_kept_as_it_is(small_foundation, world_config, small_recipe):
    before = {p: p.stat().st_mtime_ns for p in small_foundation.rglob("*") if p.is_file()}
    assert build_foundation(world_config, small_recipe, small_foundation) == small_foundation
    after = {p: p.stat().st_mtime_ns for p in small_foundation.rglob("*") if p.is_file()}
    assert after == before


def test_another_recipe_or_other_files_are_refused_not_replaced(
    small_foundation, world_config, small_recipe, tmp_path
):
    with pytest.raises(OutputExistsError, match="another world or recipe"):
        build_foundation(world_config, FoundationRecipe(), small_foundation)
    assert (small_foundation / MANIFEST).is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not a foundation"):
        build_foundation(world_config, small_recipe, mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_the_key_follows_the_corpus_and_the_recipe_not_the_pool():
    world = ToyWorldConfig()
    key = foundation_key(world, FoundationRecipe())
    assert foundation_key(ToyWorldConfig(pool_size=123, skill_zipf=0.1), FoundationRecipe()) == key
    assert foundation_key(ToyWorldConfig(image_size=48), FoundationRecipe()) != key
    assert foundation_key(ToyWorldConfig(seed=1), FoundationRecipe()) != key
    assert foundation_key(world, FoundationRecipe(vision=VisionRecipe(steps=7))) != key


def test_a_bad_world_is_refused_before_any_training(tmp_path):
    with pytest.raises(ValueError, match="toyworld.image_size"):
        build_foundation(ToyWorldConfig(image_size=8), FoundationRecipe(), tmp_path / "f")
    assert not (tmp_path / "f").exists()
