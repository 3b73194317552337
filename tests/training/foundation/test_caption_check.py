"""The stage-1 check counts every one-token shape and colour word of the held-out captions."""

from toyworld.pretraining import sample_corpus
from training.foundation.build import CLIP_DIR, LANGUAGE_DIR, PROJECTOR_FILE
from training.foundation.caption_check import caption_accuracy


def test_every_named_object_is_scored_once_with_the_image_and_once_grey(
    small_foundation, world_config
):
    from transformers import AutoTokenizer

    items = sample_corpus(world_config, 40, "held-out")
    tokenizer = AutoTokenizer.from_pretrained(small_foundation / LANGUAGE_DIR)

    def one_token(name: str) -> bool:
        return len(tokenizer.encode(" " + name, add_special_tokens=False)) == 1

    objects = [obj for item in items for obj in item.scene.objects]
    parts = [small_foundation / part for part in (LANGUAGE_DIR, CLIP_DIR, PROJECTOR_FILE)]
    result = caption_accuracy(*parts, items, world_config)
    assert result["shape_words"] == sum(one_token(obj.shape) for obj in objects) > 0
    assert result["colour_words"] == sum(one_token(obj.colour) for obj in objects) > 0
    for key in ("shape", "shape_grey", "colour", "colour_grey"):
        assert 0.0 <= result[key] <= 1.0
