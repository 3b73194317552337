"""The tiny model learns a ToyWorld subset: full finetune and LoRA (a few hundred steps)."""

from __future__ import annotations

import pytest

from training.train import train


@pytest.mark.slow
def test_full_finetune_loss_falls(full_run):
    summary = full_run.summary
    assert full_run.global_step == 150
    assert summary["loss_last"] < 0.25 * summary["loss_first"], summary


@pytest.mark.slow
def test_lora_loss_falls(world, tmp_path, tiny_config):
    cfg = tiny_config(
        tmp_path / "lora",
        f"records={world / 'pool.json'}",
        "method=lora",
        "lora.r=32",
        "lora.alpha=64",
        "lora.dropout=0.0",
        "optim.lr=1e-2",
        "optim.projector_lr=1e-2",
        "trainer.global_batch_size=8",
        "loader.per_device_batch_size=8",
        "trainer.max_steps=150",
        "trainer.checkpoint_every_n_steps=1000",
    )
    result = train(cfg)
    summary = result.summary
    assert result.global_step == 150
    assert summary["loss_last"] < 0.5 * summary["loss_first"], summary
    assert (result.export_dir / "model.safetensors").is_file()
