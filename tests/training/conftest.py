"""Shared inputs of the training tests: a small ToyWorld, one trained run, one torch thread.

The tiny-model configs and record files (tiny_config, image_records, write_records) are in
tests/conftest.py: the CLI's tests in tests/experiments use them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread(one_torch_thread) -> None:
    """Every training test on one torch thread (tests/conftest.py says why)."""


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-sample ToyWorld (pool.json + images), generated once per session."""
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    out = tmp_path_factory.mktemp("toyworld") / "world"
    make_world(
        ToyWorldConfig(out_dir=str(out), seed=0, pool_size=400, benchmark_items_per_skill=4),
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def full_run(world: Path, tmp_path_factory: pytest.TempPathFactory, tiny_config):
    """The tiny model fully finetuned for 150 steps on the world (shared by several tests)."""
    from training.train import train

    out = tmp_path_factory.mktemp("runs") / "full"
    return train(
        tiny_config(
            out,
            f"records={world / 'pool.json'}",
            f"image_root={world}",
            "trainer.global_batch_size=8",
            "loader.per_device_batch_size=8",
            "trainer.max_steps=150",
            "trainer.checkpoint_every_n_steps=1000",
        )
    )


# A Llama-style SentencePiece model (BPE, byte fallback, <unk> <s> </s> at 0 1 2), trained here
# on a few lines. "USER" only ever follows "</s>" in them, so, as in Llama's vocabulary, a
# round tokenized alone starts "▁", "USER" where the same words after </s> are "USER" alone
# (legacy=False): the token count LLaVA-1.5's "-1" for later rounds assumes.
LLAMA_LINES = [
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions.",
    "What colour is the circle? red</s>USER: How many shapes are there? three</s>USER: Describe",
    "ASSISTANT: A blue triangle above a green star.</s>USER: Is there a red square? Yes No.",
    "Say hi. hi ASSISTANT: hello there</s>USER: thanks, which shape is left of the star?",
] * 20


@pytest.fixture(scope="session")
def llama_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tokenizer.model of LLAMA_LINES (one thread: the same bytes each run)."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LLAMA_LINES),
        model_writer=model,
        model_type="bpe",
        vocab_size=420,
        byte_fallback=True,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    folder = tmp_path_factory.mktemp("llama-tokenizer")
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    return folder
