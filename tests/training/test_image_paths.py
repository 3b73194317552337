"""Training opens only images under its image root (image_paths=inside), a subset's own
synthetic images excepted; image_paths=any takes paths as given.

`vlmdata train` on these records: tests/experiments/test_train_image_paths.py."""

from __future__ import annotations

import pytest
from PIL import Image

from curation.data.records import RecordError, RecordRules
from curation.data.subset import work_dir, write_subset
from training.data import LlavaDataset
from training.inputs import load_training_inputs
from training.models import build_tiny_llava
from training.tokenizer import record_texts


def test_outside_paths_are_refused_or_skipped_at_load(escaping):
    root, _, path = escaping
    with pytest.raises(RecordError, match=r"id='r1'\): image_outside_root: "):
        load_training_inputs(records=str(path), image_root=str(root))
    inputs = load_training_inputs(records=str(path), image_root=str(root), on_error="skip")
    assert [r["id"] for r in inputs.records] == ["r0", "text"]
    assert inputs.skipped == {"image_outside_root": 2}
    for verify_images in (True, False):
        anywhere = load_training_inputs(
            records=str(path), image_root=str(root), image_paths="any", verify_images=verify_images
        )
        assert [r["id"] for r in anywhere.records] == ["r0", "r1", "r2", "text"]


def test_dataset_never_opens_an_outside_image(escaping, monkeypatch):
    root, records, path = escaping
    _, processor = build_tiny_llava(record_texts(records))
    opened = []
    monkeypatch.setattr("training.data.load_image", lambda p: opened.append(p))
    strict = LlavaDataset(records, root, processor, 256, records_path=path)
    for index in (1, 2):
        with pytest.raises(
            RecordError,
            match=rf"record {index} \(id='r{index}'\): "
            "image_outside_root: ",
        ):
            strict[index]
    lenient = LlavaDataset(records, root, processor, 256, on_error="skip")
    assert lenient[1] is None and lenient[2] is None
    assert opened == []
    LlavaDataset(records, root, processor, 256, rules=RecordRules("any"))[1]
    assert opened == [root / "../secret.png"]


def test_a_subsets_own_synthetic_images_pass(tmp_path, image_records):
    pool_records = image_records(tmp_path / "pool", 2)
    pool = tmp_path / "pool" / "pool.json"
    pool.write_text("[]")
    synthetic_png = (work_dir(tmp_path / "subset") / "synthetic" / "s.png").resolve()
    synthetic_png.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(synthetic_png)
    synthetic = {**pool_records[0], "id": "syn", "image": str(synthetic_png)}
    write_subset(
        tmp_path / "subset",
        method="adr",
        indices=[0, 1],
        records=pool_records[:2],
        pool_path=pool,
        pool_size=3,
        config={},
        seed=0,
        synthetic_records=[synthetic],
    )
    inputs = load_training_inputs(subset=str(tmp_path / "subset"))
    assert [r["id"] for r in inputs.records] == ["r0", "r1", "syn"]
