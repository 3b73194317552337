"""The tiny model's BPE tokenizer trains in linear time, whatever the pool's texts hold.

The 50 MB pool (`huge_pool`) is in tests/conftest.py; `vlmdata data validate` on it is tested in
tests/experiments/test_data_validate_rules.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from training.tokenizer import MAX_RUN_CHARS, _bounded

REPO = Path(__file__).resolve().parents[2]
FIFTY_MB = 50 * 1024 * 1024


def test_long_runs_are_cut_and_other_texts_pass_unchanged():
    texts = ["a normal sentence.", "", "x" * (2 * MAX_RUN_CHARS + 1) + " tail"]
    pieces = list(_bounded(texts))
    assert pieces[:2] == texts[:2]
    assert pieces[2:] == ["x" * MAX_RUN_CHARS, "x" * MAX_RUN_CHARS, "x", " tail"]


def test_a_50mb_single_character_text_trains_within_seconds():
    # in a subprocess: the quadratic trainer would otherwise hold the test for many minutes
    code = textwrap.dedent(f"""
        from training.tokenizer import record_texts, train_bpe_tokenizer
        record = {{"id": "huge", "conversations": [
            {{"from": "human", "value": "a" * {FIFTY_MB}}}, {{"from": "gpt", "value": "ok"}}]}}
        tokenizer = train_bpe_tokenizer(record_texts([record]))
        print(len(tokenizer("aaaa ok")["input_ids"]))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_training_skips_a_50mb_turn(huge_pool, tmp_path, tiny_config):
    from training.train import train

    cfg = tiny_config(
        tmp_path / "run",
        f"records={huge_pool}",
        f"image_root={tmp_path}",
        "loader.on_error=skip",
        "trainer.max_steps=1",
        "export=false",
        "trainer.global_batch_size=1",
        "loader.per_device_batch_size=1",
    )
    result = train(cfg)
    assert result.summary["records"]["skipped_at_load"] == {"turn_too_long": 1}
