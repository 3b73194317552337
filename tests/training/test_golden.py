"""Golden values of training: the token stream of a few records (exact) and the per-step losses
of a 4-step tiny run (within rtol 1e-4: float kernels differ across CPUs).

A change to the template, the tokenization, the masking, the model's init or the optimiser fails
here; when the change is intended, `pytest --update-golden tests/training/test_golden.py`
rewrites tests/training/golden/ and the diff is reviewed with the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
from transformers import LlamaTokenizer

from curation.data.fileio import atomic_write_json
from training.encode import ConversationEncoder
from training.template import VICUNA_V1_CHAT_TEMPLATE
from training.tokenizer import train_bpe_tokenizer
from training.train import train

GOLDEN = Path(__file__).resolve().parent / "golden"
IMAGE_POSITIONS = 4
LOSS_RTOL = 1e-4


def _turns(*values: str) -> list[dict]:
    return [{"from": ("human", "gpt")[i % 2], "value": v} for i, v in enumerate(values)]


RECORDS = [
    {"id": "image", "image": "a.png", "conversations": _turns("<image>\nWhat colour?", "red")},
    {
        "id": "multi_turn",
        "image": "a.png",
        "conversations": _turns(
            "How many shapes are there?\n<image>", "three", "Say hi.", "hello there"
        ),
    },
    {"id": "text", "conversations": _turns("Say hi.", "hi")},
    {
        "id": "image_later",
        "image": "a.png",
        "conversations": _turns("Say hi.", "hi", "<image>\nIs there a red square?", "Yes"),
    },
]


def _golden(name: str, value, update: bool):
    path = GOLDEN / name
    if update:
        atomic_write_json(path, value)
    assert path.is_file(), f"no golden file {path}: run pytest --update-golden and review it"
    return json.loads(path.read_text(encoding="utf-8"))


def _streams(tokenizer) -> dict[str, dict[str, list[int]]]:
    encoder = ConversationEncoder(tokenizer, IMAGE_POSITIONS, 512)
    out = {}
    for record in RECORDS:
        encoded = encoder(record)
        out[record["id"]] = {  # space-separated: one line per stream in the golden file
            "input_ids": " ".join(map(str, encoded.input_ids.tolist())),
            "labels": " ".join(map(str, encoded.labels.tolist())),
        }
    return out


def test_token_streams(llama_model_dir, update_golden):
    texts = [turn["value"] for record in RECORDS for turn in record["conversations"]] * 5
    bpe = train_bpe_tokenizer(texts, vocab_size=300)
    bpe.chat_template = VICUNA_V1_CHAT_TEMPLATE
    actual = {"byte_level_bpe": _streams(bpe)}
    for legacy in (True, False):
        llama = LlamaTokenizer.from_pretrained(llama_model_dir, legacy=legacy, add_bos_token=True)
        llama.add_special_tokens({"additional_special_tokens": ["<image>"]})
        actual[f"llama_legacy_{str(legacy).lower()}"] = _streams(llama)
    expected = _golden("token_streams.json", actual, update_golden)
    for tokenizer, records in expected.items():
        for record_id, stream in records.items():
            assert actual[tokenizer][record_id] == stream, (tokenizer, record_id)
    assert actual.keys() == expected.keys()


class _StepLosses(pl.Callback):
    """Keeps the module's per-optimizer-step losses when training ends."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.losses = [float(loss) for loss in pl_module.step_losses]


def test_losses_of_a_four_step_tiny_run(
    tmp_path, image_records, write_records, tiny_config, update_golden
):
    path = write_records(tmp_path, image_records(tmp_path, 6))
    steps = _StepLosses()
    result = train(
        tiny_config(
            tmp_path / "run",
            f"records={path}",
            "seed=0",
            "optim.lr=3e-3",  # the golden losses' rate, independent of tiny.yaml's recipe
            "trainer.max_steps=4",
            "trainer.global_batch_size=2",
            "loader.per_device_batch_size=2",
            "export=false",
        ),
        callbacks=[steps],
    )
    assert result.global_step == 4 and len(steps.losses) == 4
    expected = _golden("losses_tiny_4_steps.json", steps.losses, update_golden)
    assert steps.losses == pytest.approx(expected, rel=LOSS_RTOL)
