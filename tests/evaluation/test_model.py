"""vlmdata_llava with llava_hf's inputs (chat_template=checkpoint, image_aspect_ratio=crop,
token_stream=whole) answers exactly as lmms-eval's llava_hf; batching changes nothing."""

import argparse

import pytest

from evaluation.materialize import materialize
from evaluation.run import offline
from evaluation.suites import eval_config


def test_stop_strings_cut_the_answer():
    from evaluation.model import _cut

    assert _cut("red ASSISTANT: blue", ["ASSISTANT:"]) == "red "
    assert _cut("red\n\nmore", ["\n\n", "</s>"]) == "red"
    assert _cut("red", [""]) == "red"


def test_blind_images_are_grey_and_keep_each_originals_size():
    from PIL import Image

    from evaluation.model import blind_images

    originals = [
        Image.new("RGB", (32, 24), (220, 20, 20)),
        Image.new("RGBA", (7, 300), (0, 0, 0, 0)),
        Image.new("L", (1, 1), 255),
        Image.effect_noise((64, 48), 50),
    ]
    blind = blind_images(originals)
    assert len(blind) == len(originals)
    for image, original in zip(blind, originals, strict=True):
        assert image.mode == "RGB" and image.size == original.size
        assert image.getcolors() == [(original.width * original.height, (128, 128, 128))]
        assert image is not original
    assert blind_images([]) == []


def test_registered_by_name():
    from lmms_eval.models import get_model

    from evaluation.model import VlmdataLlava, register

    register()
    assert get_model("vlmdata_llava") is VlmdataLlava


@pytest.mark.slow
def test_same_answers_as_llava_hf_and_across_batch_sizes(
    tiny_checkpoint, toyworld_bench_root, tmp_path
):
    cfg = eval_config(["suite=toyworld", f"data_root={toyworld_bench_root}"])
    tasks = [t for t in cfg.tasks if t.name in ("toyworld_colour", "toyworld_caption")]
    materialize(cfg, tasks, tmp_path)
    with offline(True):
        from lmms_eval.evaluator import simple_evaluate
        from lmms_eval.tasks import TaskManager

        from evaluation.model import VlmdataLlava

        manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
        answers = {}
        llava_hf_inputs = {
            "chat_template": "checkpoint",
            "image_aspect_ratio": "crop",
            "token_stream": "whole",
        }
        for label, model, args in [
            (
                "llava_hf",
                "llava_hf",
                f"pretrained={tiny_checkpoint},device_map=cpu,device=cpu,dtype=float32",
            ),
            ("ours", VlmdataLlava(str(tiny_checkpoint), progress=False, **llava_hf_inputs), ""),
            (
                "ours_batch4",
                VlmdataLlava(str(tiny_checkpoint), batch_size=4, progress=False, **llava_hf_inputs),
                "",
            ),
        ]:
            results = simple_evaluate(
                model=model,
                model_args=args,
                tasks=[t.name for t in tasks],
                task_manager=manager,
                limit=5,
                bootstrap_iters=0,
                log_samples=True,
                verbosity="ERROR",
                cli_args=argparse.Namespace(
                    output_path=str(tmp_path / label), process_with_media=False
                ),
            )
            answers[label] = {
                task: [s["filtered_resps"] for s in samples]
                for task, samples in results["samples"].items()
            }
    assert answers["ours"] == answers["llava_hf"]
    assert answers["ours_batch4"] == answers["ours"]


@pytest.mark.parametrize("token_stream", ["llava", "whole"])
def test_a_doc_with_two_images_passes_both_in_order(tiny_checkpoint, token_stream):
    import torch
    from lmms_eval.api.instance import Instance
    from PIL import Image

    from evaluation.images import shape_images
    from evaluation.model import VlmdataLlava

    red, blue, green = (Image.new("RGB", (32, 24), c) for c in ("red", "blue", "green"))

    def doc_to_messages(doc):
        images = [{"type": "image", "url": image} for image in doc["images"]]
        return [{"role": "user", "content": [*images, {"type": "text", "text": "Which?"}]}]

    model = VlmdataLlava(str(tiny_checkpoint), progress=False, token_stream=token_stream)
    model.task_dict = {"pairs": {"test": {0: {"images": [red, blue]}, 1: {"images": [green]}}}}
    requests = [
        Instance(
            "generate_until",
            ("", doc_to_messages, {"max_new_tokens": 2}, i, "pairs", "test"),
            i,
            {"task": "pairs", "doc_id": i, "repeats": 1},
        )
        for i in (0, 1)
    ]
    prompts = [model._prompt(request) for request in requests]
    assert [text.count("<image>") for text, _ in prompts] == [2, 1]
    assert [image.getpixel((0, 0)) for image in prompts[0][1]] == [(255, 0, 0), (0, 0, 255)]

    inputs = model._inputs(prompts)
    shaped = shape_images([red, blue, green], model.processor.image_processor.image_mean, "pad")
    expected = model.processor.image_processor(shaped, return_tensors="pt")["pixel_values"]
    assert torch.equal(inputs["pixel_values"], expected)
    image_id = model.tokenizer.convert_tokens_to_ids("<image>")
    blocks = (inputs["input_ids"] == image_id).sum(1) // model.image_seq_length
    assert blocks.tolist() == [2, 1]
    assert len(model.generate_until(requests)) == 2  # HF LLaVA takes the three images
