"""Kill a run after a checkpoint, resume it: same step count and bitwise the same weights."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file

from training.train import train


class Killed(RuntimeError):
    pass


class KillAt(pl.Callback):
    """Stops the run abruptly (an exception mid-epoch, after a checkpoint was written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            raise Killed(f"killed at step {trainer.global_step}")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_resumed_run_matches_uninterrupted_run(method, world, tmp_path, tiny_config):
    records = json.loads((world / "pool.json").read_text(encoding="utf-8"))[:40]
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps(records), encoding="utf-8")
    # 40 records / 4 per batch / 2 accumulated = 5 steps per epoch; checkpoints at steps 7, 14
    overrides = [
        f"records={pool}",
        f"image_root={world}",
        f"method={method}",
        "trainer.global_batch_size=8",
        "loader.per_device_batch_size=4",
        "trainer.max_steps=16",
        "trainer.checkpoint_every_n_steps=7",
        "lora.r=8",
        "lora.alpha=16",
        "lora.dropout=0.1",
        "optim.lr=1e-2",
    ]

    straight = train(tiny_config(tmp_path / "straight", *overrides))
    with pytest.raises(Killed):
        train(tiny_config(tmp_path / "resumed", *overrides), callbacks=[KillAt(9)])
    last = tmp_path / "resumed" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 7
    if method == "lora":  # only the trainable weights are kept
        assert all(".lora_" in k or "multi_modal_projector" in k for k in checkpoint["state_dict"])
    assert not (tmp_path / "resumed" / "hf").exists()

    resumed = train(tiny_config(tmp_path / "resumed", *overrides))
    assert resumed.summary["resumed_from"] == str(last)
    assert resumed.global_step == straight.global_step == 16
    for key in ("samples_seen", "tokens_seen", "loss_first", "loss_last"):
        assert resumed.summary[key] == straight.summary[key], key
    expected = load_file(str(straight.export_dir / "model.safetensors"))
    got = load_file(str(resumed.export_dir / "model.safetensors"))
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
