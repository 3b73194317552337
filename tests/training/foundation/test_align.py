"""Stage 1's output is what stage 2 starts from: the assembled model carries the aligned
projector, the stage-0 towers, and trains all but the vision tower."""

import pytest
import torch
from safetensors.torch import load_file

from training.config import ModelConfig
from training.finetune import prepare_model, trainable_parameter_names
from training.foundation.build import CLIP_DIR, LANGUAGE_DIR, PROJECTOR_FILE
from training.models import ModelSourceError, build_model, load_projector_weights


@pytest.fixture(scope="module")
def assembled(small_foundation):
    return build_model(ModelConfig(kind="assemble", foundation=str(small_foundation)))


def test_stage_two_starts_from_the_stage_one_projector(small_foundation, assembled):
    model, _ = assembled
    aligned = load_projector_weights(small_foundation / PROJECTOR_FILE)
    loaded = model.model.multi_modal_projector.state_dict()
    assert set(loaded) == set(aligned)
    for key, value in aligned.items():
        assert torch.equal(loaded[key], value), key


def test_stage_one_moved_the_projector_away_from_its_initialisation(small_foundation):
    initial = load_file(str(small_foundation / "projector_init.safetensors"))
    aligned = load_file(str(small_foundation / PROJECTOR_FILE))
    assert set(initial) == set(aligned)
    assert any(not torch.equal(initial[k], aligned[k]) for k in initial)


def test_stage_two_reads_the_stage_zero_towers(small_foundation, assembled):
    from transformers import CLIPVisionModel, LlamaForCausalLM

    model, processor = assembled
    clip = CLIPVisionModel.from_pretrained(small_foundation / CLIP_DIR)
    for key, value in clip.state_dict().items():
        assert torch.equal(model.model.vision_tower.state_dict()[key], value), key
    lm = LlamaForCausalLM.from_pretrained(small_foundation / LANGUAGE_DIR)
    ours = model.model.language_model.state_dict()
    for key, value in lm.model.state_dict().items():
        if "embed_tokens" not in key:  # resized for <image> (padded rows)
            assert torch.equal(ours[key], value), key
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index


@pytest.mark.parametrize(
    ("method", "trains"),
    [("projector", {"multi_modal_projector"}), ("full", {"multi_modal_projector", "language"})],
)
def test_only_stage_one_freezes_the_language_model(assembled, method, trains):
    from training.config import LoraConfig

    model, _ = assembled
    names = trainable_parameter_names(prepare_model(model, method, LoraConfig()))
    assert names and not any("vision_tower" in n for n in names)
    assert {p for p in trains if any(p in n for n in names)} == trains
    if method == "projector":
        assert all("multi_modal_projector" in n for n in names)


def test_the_world_sentinel_needs_a_run_to_resolve_it():
    with pytest.raises(
        ModelSourceError, match=r"model.foundation=world .*vlmdata toyworld pretrain"
    ):
        build_model(ModelConfig(kind="assemble", foundation="world"))


def test_a_foundation_directory_must_be_finished(tmp_path):
    (tmp_path / "clip").mkdir()
    with pytest.raises(Exception, match="no foundation.json"):
        build_model(ModelConfig(kind="assemble", foundation=str(tmp_path)))


def test_a_run_trains_its_assembled_model_in_train_mode(small_foundation, tmp_path, tiny_config):
    """Parts loaded with from_pretrained start in eval mode (dropout off); a run must not."""
    import pytorch_lightning as pl

    from training.train import train

    modes = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            modes.append({m.training for m in module.modules()})

    records = tmp_path / "captions.json"
    captions = small_foundation / "corpus" / "captions.json"
    records.write_text(captions.read_text())
    cfg = tiny_config(
        tmp_path / "run",
        "model.kind=assemble",
        f"model.foundation={small_foundation}",
        f"records={records}",
        f"image_root={small_foundation / 'corpus'}",
        "trainer.max_steps=1",
        "export=false",
    )
    train(cfg, callbacks=[Record()])
    assert modes == [{True}]
