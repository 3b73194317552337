"""Stage 1's output is what stage 2 starts from: the assembled model carries the aligned
projector, the stage-0 vision tower and stage 1's language model, and trains all but the vision
tower. LLaVA's own stage 1 (projector only) leaves the stage-0 language model as it was."""

import pytest
import torch
from safetensors.torch import load_file

from curation.data.threads import torch_threads
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


def test_stage_two_reads_the_foundations_towers(small_foundation, assembled):
    from transformers import CLIPVisionModel, LlamaForCausalLM

    model, processor = assembled
    clip = CLIPVisionModel.from_pretrained(small_foundation / CLIP_DIR)
    for key, value in clip.state_dict().items():
        assert torch.equal(model.model.vision_tower.state_dict()[key], value), key
    lm = LlamaForCausalLM.from_pretrained(small_foundation / LANGUAGE_DIR)
    ours = model.model.language_model.state_dict()
    for key, value in lm.model.state_dict().items():  # stage 1 saved the padded <image> rows
        assert torch.equal(ours[key], value), key
    assert torch.equal(model.lm_head.weight, lm.lm_head.weight)
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index


def test_stage_one_trained_the_language_model_by_default(
    small_foundation, small_recipe, world_config
):
    from transformers import LlamaForCausalLM

    initial = _stage_zero_language_model(world_config, small_recipe)
    trained = LlamaForCausalLM.from_pretrained(small_foundation / LANGUAGE_DIR)
    layer = "model.layers.0.self_attn.q_proj.weight"
    assert initial.state_dict()[layer].shape == trained.state_dict()[layer].shape
    assert not torch.equal(initial.state_dict()[layer], trained.state_dict()[layer])


def test_llavas_stage_one_leaves_the_stage_zero_language_model(tmp_path, world_config):
    from transformers import LlamaForCausalLM

    from training.foundation.build import build_foundation
    from training.foundation.recipe import (
        AlignRecipe,
        FoundationRecipe,
        LanguageRecipe,
        VisionRecipe,
    )

    recipe = FoundationRecipe(
        corpus_size=64,
        held_out_size=100,  # check_clip retrieves among 100
        text_only_size=8,
        vision=VisionRecipe(steps=2, batch_size=16),
        language=LanguageRecipe(steps=3, batch_size=8),  # text pretraining on, as an option
        align=AlignRecipe(epochs=1, batch_size=32, train_language_model=False, grounded={}),
    )
    folder = build_foundation(world_config, recipe, tmp_path / "f", progress=False)
    expected = _stage_zero_language_model(world_config, recipe, tmp_path / "stage0")
    kept = LlamaForCausalLM.from_pretrained(folder / LANGUAGE_DIR)
    assert kept.state_dict().keys() == expected.state_dict().keys()
    for key, value in expected.state_dict().items():
        assert torch.equal(kept.state_dict()[key], value), key


def _stage_zero_language_model(world, recipe, out=None):
    """Stage 0's language model made again from the world's corpus and the recipe: as
    initialised (out=None) or trained and saved to `out`."""
    from transformers import LlamaForCausalLM

    from toyworld.pretraining import sample_corpus, text_only_conversations
    from training.foundation.language import build_language_model, train_language_model

    items = sample_corpus(world, recipe.corpus_size, "train")
    texts = [{"conversations": item.conversations()} for item in items]
    texts += [{"conversations": c} for c in text_only_conversations(world, recipe.text_only_size)]
    if out is None:
        return build_language_model(texts, recipe.language, recipe.seed)[0]
    with torch_threads(recipe.threads):
        train_language_model(texts, recipe.language, recipe.seed, out, progress=False)
    return LlamaForCausalLM.from_pretrained(out)


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
