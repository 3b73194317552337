"""The tiny model's BPE tokenizer trains in linear time, whatever the pool's texts hold."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from experiments.cli import main
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


@pytest.fixture
def huge_pool(tmp_path: Path) -> Path:
    """A JSONL pool: one ordinary record, then one whose question is 50 MB of 'a'."""
    ordinary = {
        "id": "ok",
        "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "hi"}],
    }
    path = tmp_path / "pool.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(ordinary) + "\n")
        handle.write('{"id": "huge", "conversations": [{"from": "human", "value": "')
        handle.write("a" * FIFTY_MB)
        handle.write('"}, {"from": "gpt", "value": "ok"}]}\n')
    return path


def test_validate_refuses_or_skips_a_50mb_turn(huge_pool, capsys):
    code = main(["data", "validate", str(huge_pool), "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "record 1 (id='huge'): turn_too_long: turn 1 has 52,428,800 characters" in err

    code = main(["data", "validate", str(huge_pool), "on_error=skip", "progress=false"])
    assert code == 1 and "turn_too_long" in capsys.readouterr().out


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
