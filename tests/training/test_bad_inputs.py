"""Bad training data: a clear one-line error naming the record, or a counted skip."""

from __future__ import annotations

import pytest

from curation.data.records import RecordError
from training.data import Collator, LlavaDataset
from training.inputs import load_training_inputs
from training.models import build_tiny_llava
from training.tokenizer import record_texts
from training.train import train


def test_missing_image_is_one_clear_line(broken, tmp_path):
    with pytest.raises(RecordError) as caught:
        load_training_inputs(records=str(broken), image_root=str(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "id='r1'" in message and "image_missing" in message and "1.png" in message


def test_skip_counts_missing_and_corrupt_images_and_trains(broken, tmp_path, tiny_config):
    inputs = load_training_inputs(records=str(broken), image_root=str(tmp_path), on_error="skip")
    assert [r["id"] for r in inputs.records] == ["r0", "r2", "r3", "r5", "text"]
    assert inputs.skipped == {"image_missing": 1, "image_unreadable": 1}

    result = train(
        tiny_config(
            tmp_path / "run",
            f"records={broken}",
            f"image_root={tmp_path}",
            "loader.on_error=skip",
            "trainer.max_steps=2",
            "trainer.global_batch_size=4",
            "loader.per_device_batch_size=4",
            "export=false",
        )
    )
    assert result.global_step == 2
    assert result.summary["records"]["skipped_at_load"] == inputs.skipped
    assert result.summary["records"]["used"] == 5


def test_image_that_breaks_during_training(tmp_path, image_records):
    records = image_records(tmp_path, 3)
    _, processor = build_tiny_llava(record_texts(records))
    png = (tmp_path / "img" / "2.png").read_bytes()
    (tmp_path / "img" / "2.png").write_bytes(png[: len(png) // 2])  # truncated after the check

    strict = LlavaDataset(
        records, tmp_path, processor, 256, on_error="raise", records_path=tmp_path / "records.json"
    )
    with pytest.raises(RecordError, match=r"record 2 \(id='r2'\): image_unreadable"):
        strict[2]

    lenient = LlavaDataset(records, tmp_path, processor, 256, on_error="skip")
    batch = Collator(processor.tokenizer.pad_token_id)([lenient[i] for i in range(4)])
    assert batch["n_skipped"] == 1 and batch["n_samples"] == 3
    assert batch["pixel_values"].shape[0] == 2  # two images + the text-only record


def test_truncated_image_fails_even_when_pil_was_told_to_tolerate_it(tmp_path, monkeypatch):
    import io

    from PIL import Image, ImageFile

    from training.images import ImageLoadError, load_image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as lmms-eval's import does
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def _unsupervised(tmp_path, image_records) -> list[dict]:
    """Four ordinary image records, one text-only, and one record of each kind LLaVA-1.5 trains
    on with every label masked (its "tokenization mismatch")."""

    def record(record_id, *values):
        turns = [{"from": ("human", "gpt")[i % 2], "value": v} for i, v in enumerate(values)]
        return {"id": record_id, "image": "img/0.png", "conversations": turns}

    return [
        *image_records(tmp_path, 4),
        record("eos", "<image>\nWhat colour is it?", "red</s>green"),
        record("empty", "<image>\nWhat colour is it?", ""),
        record("question_last", "<image>\nWhat colour is it?", "red", "And now?"),
        record("unk", "<image>\nWhat colour is it?", "red <unk>"),
    ]


UNSUPERVISED_COUNTS = {"literal_eos": 1, "ends_with_human": 1, "empty_turn": 1, "unk_token": 1}


def test_records_llava_would_not_supervise_are_counted_per_reason(
    tmp_path, image_records, write_records, tiny_config
):
    path = write_records(tmp_path, _unsupervised(tmp_path, image_records))
    result = train(
        tiny_config(
            tmp_path / "run",
            f"records={path}",
            "loader.on_error=skip",
            "trainer.max_steps=2",
            "trainer.global_batch_size=2",
            "loader.per_device_batch_size=2",
            "export=false",
        )
    )
    assert result.summary["records"]["skipped_at_load"] == UNSUPERVISED_COUNTS
    assert result.summary["records"]["used"] == 5 and result.summary["skipped_at_train"] == 0


def test_a_record_llava_would_not_supervise_is_one_line_under_raise(
    tmp_path, image_records, write_records, tiny_config
):
    path = write_records(tmp_path, _unsupervised(tmp_path, image_records))
    with pytest.raises(RecordError) as caught:
        train(tiny_config(tmp_path / "run", f"records={path}", "export=false"))
    message = str(caught.value)
    assert "\n" not in message
    assert "record 5 (id='eos'): literal_eos" in message and "'</s>'" in message


def test_the_dataset_skips_or_refuses_them_too(tmp_path, image_records):
    records = _unsupervised(tmp_path, image_records)
    _, processor = build_tiny_llava(record_texts(records))
    strict = LlavaDataset(records, tmp_path, processor, 256, records_path=tmp_path / "r.json")
    with pytest.raises(RecordError, match=r"record 7 \(id='question_last'\): ends_with_human"):
        strict[7]
    lenient = LlavaDataset(records, tmp_path, processor, 256, on_error="skip")
    batch = Collator(processor.tokenizer.pad_token_id)([lenient[i] for i in range(len(records))])
    assert batch["n_skipped"] == 4 and batch["n_samples"] == 5
