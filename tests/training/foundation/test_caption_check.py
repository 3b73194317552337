"""The stage-1 check counts every one-token shape and colour word of the held-out captions."""

import pytest

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


@pytest.mark.parametrize("skill", ["existence", "spatial"])
def test_grounded_accuracy_is_the_share_of_short_answers_first_tokens_read_one_at_a_time(
    small_foundation, world_config, skill
):
    import torch
    from PIL import Image

    from toyworld.pool import PoolSample, Turn
    from toyworld.pretraining import grounded_questions
    from toyworld.render import render_scene
    from training.encode import IGNORE_INDEX, ConversationEncoder
    from training.foundation.caption_check import grounded_accuracy
    from training.images import BLIND_GREY
    from training.models import assemble_llava15, num_image_tokens

    asked = grounded_questions(world_config, skill, 24, "held-out")
    parts = [small_foundation / part for part in (LANGUAGE_DIR, CLIP_DIR, PROJECTOR_FILE)]
    result = grounded_accuracy(*parts, asked, world_config)
    model, processor = assemble_llava15(*(str(p) for p in parts))
    model.eval()
    encoder = ConversationEncoder(processor.tokenizer, num_image_tokens(processor), 512)
    hits = {"": 0, "_grey": 0}
    for scene, turn in asked:
        encoded = encoder(
            {
                "image": "x",
                "conversations": PoolSample(scene, (Turn(turn.qa, short=True),)).conversations(),
            }
        )
        image = render_scene(scene, world_config.image_size, world_config.background_noise)
        first = int((encoded.labels != IGNORE_INDEX).nonzero()[0, 0])
        assert processor.tokenizer.decode(encoded.labels[first]).strip() in turn.qa.reference
        for view, shown in (("", image), ("_grey", Image.new("RGB", image.size, BLIND_GREY))):
            pixels = processor.image_processor(images=[shown], return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                logits = model(input_ids=encoded.input_ids[None], pixel_values=pixels).logits[0]
            hits[view] += int(logits[first - 1].argmax() == encoded.labels[first])
    assert result["questions"] == 24
    # batched and padded against one at a time: a near tie may flip one argmax
    assert abs(result["accuracy"] - hits[""] / 24) <= 1 / 24
    assert abs(result["grey"] - hits["_grey"] / 24) <= 1 / 24
