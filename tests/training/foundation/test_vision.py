"""Stage 0's tiny CLIP: it has learned the world's pictures, and its dense targets are right."""

from toyworld.config import ToyWorldConfig
from toyworld.pretraining import sample_corpus
from toyworld.scene import Scene, SceneObject
from training.foundation.build import CLIP_DIR
from training.foundation.vision import check_clip, patch_targets


def test_the_tiny_clip_retrieves_held_out_captions_far_above_chance(small_foundation, world_config):
    held_out = sample_corpus(world_config, 200, "test-held-out")
    checks = check_clip(small_foundation / CLIP_DIR, held_out, world_config, group=10)
    assert checks["retrieval_chance"] == 0.1
    assert checks["retrieval"] >= 0.4, checks  # 91.5% measured (AMD EPYC); chance 10%


def test_patch_targets_name_the_object_centred_in_each_patch():
    world = ToyWorldConfig(image_size=32)
    scene = Scene(
        objects=(
            SceneObject("star", "blue", "small", (1, 1, 13, 13)),  # centre (7, 7): patch 0
            SceneObject("ring", "red", "large", (17, 9, 31, 23)),  # centre (24, 16): patch 11
        ),
        background_level=20,
        texture="plain",
        render_seed=0,
    )

    class Item:
        pass

    item = Item()
    item.scene = scene
    shapes, colours = patch_targets([item], world, patch_size=8)
    nothing_shape, nothing_colour = len(world.shapes), len(world.colours)
    expected_shapes = [nothing_shape] * 16
    expected_colours = [nothing_colour] * 16
    expected_shapes[0], expected_colours[0] = (
        world.shapes.index("star"),
        world.colours.index("blue"),
    )
    expected_shapes[11], expected_colours[11] = (
        world.shapes.index("ring"),
        world.colours.index("red"),
    )
    assert shapes.tolist() == [expected_shapes]
    assert colours.tolist() == [expected_colours]
