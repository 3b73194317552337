"""The pretraining corpus: the world's "web", drawn apart from the pool and the benchmarks."""

import hashlib
import itertools
import re

import pytest

from toyworld.config import ToyWorldConfig
from toyworld.make import make_world
from toyworld.pretraining import (
    corpus_config,
    flat_law,
    grounded_questions,
    sample_corpus,
    text_only_conversations,
)
from toyworld.render import render_png
from toyworld.scene import relation
from toyworld.skills import PHRASINGS


def _hashes(items, cfg):
    return {
        hashlib.sha256(render_png(i.scene, cfg.image_size, cfg.background_noise)).hexdigest()
        for i in items
    }


def test_the_corpus_is_the_same_for_the_same_world_and_another_for_another_seed():
    cfg = ToyWorldConfig()
    first, again = sample_corpus(cfg, 50), sample_corpus(cfg, 50)
    assert [(i.scene, i.caption, i.turns) for i in first] == [
        (i.scene, i.caption, i.turns) for i in again
    ]
    other = sample_corpus(ToyWorldConfig(seed=1), 50)
    assert [i.scene for i in other] != [i.scene for i in first]


def test_splits_are_independent_draws():
    cfg = ToyWorldConfig()
    train, held = sample_corpus(cfg, 200), sample_corpus(cfg, 200, "held-out")
    assert not _hashes(train, cfg) & _hashes(held, cfg)


def test_no_corpus_image_is_a_pool_or_benchmark_image(tmp_path):
    cfg = ToyWorldConfig(out_dir=str(tmp_path / "w"), pool_size=300, benchmark_items_per_skill=5)
    world = make_world(cfg, progress=False)
    pool = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (world / "images").glob("*.png")}
    assert pool and not _hashes(sample_corpus(cfg, 600), cfg) & pool


def test_existence_questions_are_answered_by_their_own_scenes_half_about_absent_objects():
    cfg = ToyWorldConfig()
    asked = grounded_questions(cfg, "existence", 400)
    assert len(asked) == 400 and asked == grounded_questions(cfg, "existence", 400)
    absent = 0
    for scene, turn in asked:
        assert turn.qa.skill == "existence"
        (name,) = [n for n in _all_names(cfg) if n in turn.qa.question]
        present = name in scene.names
        absent += not present
        assert turn.qa.reference == ("yes" if present else "no")
    assert 160 < absent < 240
    scenes = [scene for scene, _ in asked]
    assert not set(scenes) & {i.scene for i in sample_corpus(cfg, 400)}


def test_shape_and_spatial_questions_are_answered_by_their_own_scenes():
    cfg = ToyWorldConfig()
    for scene, turn in grounded_questions(cfg, "shape", 200):
        (colour,) = [c for c in cfg.colours if re.search(rf"\b{c}\b", turn.qa.question)]
        (obj,) = [o for o in scene.objects if o.colour == colour]
        assert turn.qa.skill == "shape" and turn.qa.reference == obj.shape
    relations = set()
    for scene, turn in grounded_questions(cfg, "spatial", 200):
        a, b = _named_pair(scene, turn.qa.question)
        assert turn.qa.skill == "spatial" and turn.qa.reference == relation(a, b)
        relations.add(turn.qa.reference)
    assert relations == {"left", "right", "above", "below"}


def test_each_skill_and_split_is_its_own_draw_and_an_unknown_skill_is_refused():
    cfg = ToyWorldConfig()
    scenes = {
        (skill, split): {scene for scene, _ in grounded_questions(cfg, skill, 50, split)}
        for skill in ("existence", "shape")
        for split in ("train", "held-out")
    }
    for one, other in itertools.combinations(scenes.values(), 2):
        assert not one & other
    with pytest.raises(ValueError, match="unknown skill 'colours'"):
        grounded_questions(cfg, "colours", 1)


def _named_pair(scene, question):
    """The objects a spatial question asks about: (where is this one, relative to that one)."""
    for phrasing in PHRASINGS["spatial"]:
        pattern = (
            re.escape(phrasing.text).replace(r"\{a\}", "(?P<a>.+)").replace(r"\{b\}", "(?P<b>.+)")
        )
        found = re.fullmatch(pattern, question)
        if found:
            by_name = {o.name: o for o in scene.objects}
            return by_name[found["a"]], by_name[found["b"]]
    raise AssertionError(question)


def _all_names(cfg):
    return [f"{colour} {shape}" for colour in cfg.colours for shape in cfg.shapes]


def test_the_corpus_law_is_flat():
    cfg = flat_law(ToyWorldConfig())
    assert (cfg.shape_zipf, cfg.colour_zipf, cfg.combination_zipf) == (0.0, 0.0, 0.0)
    assert cfg.cooccurrence_affinity == 0.0
    items = sample_corpus(ToyWorldConfig(), 3000)
    shapes = [o.shape for i in items for o in i.scene.objects]
    counts = [shapes.count(s) for s in ToyWorldConfig().shapes]
    # a Zipf-1.2 law puts 40% of the objects on the first shape; a flat one 10% (+- noise)
    assert max(counts) / len(shapes) < 0.13 and min(counts) / len(shapes) > 0.07


def test_every_item_has_a_caption_naming_its_objects_and_questions_about_it():
    for item in sample_corpus(ToyWorldConfig(), 30):
        for obj in item.scene.objects:
            assert f"{obj.colour} {obj.shape}" in item.caption
        assert 1 <= len(item.turns) <= 3
        assert "<image>" not in " ".join(m["value"] for m in item.conversations())
    texts = text_only_conversations(ToyWorldConfig(), 5)
    assert len(texts) == 5 and all(len(c) == 2 for c in texts)


def test_the_corpus_depends_only_on_the_fields_it_names():
    base = ToyWorldConfig()
    changed = ToyWorldConfig(pool_size=99, shape_zipf=2.0, skill_zipf=0.1, q_token=0.5)
    assert corpus_config(changed) == corpus_config(base)
    assert [i.scene for i in sample_corpus(changed, 40)] == [
        i.scene for i in sample_corpus(base, 40)
    ]
