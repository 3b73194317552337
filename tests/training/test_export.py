"""Export: an HF directory that from_pretrained and lmms-eval's llava_hf load as trained."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from training.config import LoraConfig
from training.export import export_hf
from training.finetune import prepare_model
from training.models import build_tiny_llava, load_hf_llava

TEXTS = ["What colour is the square?", "Red.", "What shape is it?", "A circle."] * 10


def _inputs(processor):
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]}],
        add_generation_prompt=True,
    )
    return processor(
        images=[Image.new("RGB", (32, 20), (200, 30, 30))], text=prompt, return_tensors="pt"
    )


def _logits(model, inputs) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def test_export_then_from_pretrained_gives_identical_logits(tmp_path):
    model, processor = build_tiny_llava(TEXTS, seed=1)
    with torch.no_grad():  # move away from the init, as training would
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.01)
    expected = _logits(model, _inputs(processor))
    out = export_hf(model, processor, tmp_path / "hf")

    reloaded, reloaded_processor = load_hf_llava(str(out))
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(out.glob("*.bin"))
    assert torch.equal(_logits(reloaded, _inputs(reloaded_processor)), expected)
    assert reloaded_processor.tokenizer.chat_template == processor.tokenizer.chat_template


def test_lora_export_merges_the_adapters(tmp_path):
    model, processor = build_tiny_llava(TEXTS, seed=1)
    base = _logits(model, _inputs(processor))
    model = prepare_model(model, "lora", LoraConfig(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    expected = _logits(model, _inputs(processor))
    out = export_hf(model, processor, tmp_path / "hf")
    reloaded, reloaded_processor = load_hf_llava(str(out))
    assert not any("lora" in name for name, _ in reloaded.named_parameters())
    got = _logits(reloaded, _inputs(reloaded_processor))
    assert (expected - base).abs().max() > 0.1  # the adapters matter
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)  # merging reorders float sums


def test_failed_export_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, processor = build_tiny_llava(TEXTS, seed=1)
    out = export_hf(model, processor, tmp_path / "hf")
    before = sorted(p.name for p in out.iterdir())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(processor), "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        export_hf(model, processor, tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


SCORE_SCRIPT = textwrap.dedent("""
    import datetime, json, sys
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    checkpoint, task_dir, out = sys.argv[1:4]
    results = simple_evaluate(
        model="llava_hf", model_args=f"pretrained={checkpoint},device_map=cpu,device=cpu",
        tasks=["vlmdata_training_export"],
        task_manager=TaskManager(include_path=task_dir, include_defaults=False),
        batch_size=1, log_samples=True, gen_kwargs="temperature=0", bootstrap_iters=0,
        datetime_str=datetime.datetime.now().strftime("%Y%m%d_%H%M%S_%f"))
    samples = results["samples"]["vlmdata_training_export"]
    json.dump({"results": results["results"]["vlmdata_training_export"],
               "responses": [s["filtered_resps"][0] for s in samples]},
              open(out, "w"), default=str)
""")

TASK_UTILS = textwrap.dedent("""
    import io
    from PIL import Image


    def doc_to_visual(doc):
        return [Image.open(io.BytesIO(doc["image"])).convert("RGB")]


    def doc_to_text(doc):
        return doc["question"]


    def process_results(doc, results):
        return {"exact_match": float(results[0].strip().lower() == doc["answer"].lower())}
""")


def _task(world: Path, task_dir: Path, n: int = 6) -> None:
    """A local lmms-eval task: n single-turn image questions of the world, as parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = json.loads((world / "pool.json").read_text(encoding="utf-8"))
    rows = []
    for record in records:
        turns = record["conversations"]
        if "image" not in record or len(turns) != 2:
            continue
        buffer = io.BytesIO()
        Image.open(world / record["image"]).save(buffer, format="PNG")
        rows.append(
            {
                "image": buffer.getvalue(),
                "answer": turns[1]["value"],
                "question": turns[0]["value"].replace("<image>", "").strip(),
            }
        )
        if len(rows) == n:
            break
    task_dir.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), task_dir / "items.parquet")
    (task_dir / "utils.py").write_text(TASK_UTILS, encoding="utf-8")
    (task_dir / "vlmdata_training_export.yaml").write_text(
        textwrap.dedent(f"""
        task: vlmdata_training_export
        dataset_path: parquet
        dataset_kwargs:
          data_files:
            test: {task_dir / "items.parquet"}
        test_split: test
        output_type: generate_until
        doc_to_visual: !function utils.doc_to_visual
        doc_to_text: !function utils.doc_to_text
        doc_to_target: answer
        process_results: !function utils.process_results
        generation_kwargs:
          max_new_tokens: 12
          temperature: 0
          do_sample: false
        metric_list:
          - metric: exact_match
            aggregation: mean
            higher_is_better: true
    """),
        encoding="utf-8",
    )


@pytest.mark.slow
def test_lmms_eval_llava_hf_scores_the_exported_run(full_run, world, tmp_path):
    task_dir = tmp_path / "task"
    _task(world, task_dir)
    script = tmp_path / "score.py"
    script.write_text(SCORE_SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "scores.json"
    done = subprocess.run(
        [sys.executable, str(script), str(full_run.export_dir), str(task_dir), str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads(out.read_text())
    assert 0.0 <= float(scores["results"]["exact_match,none"]) <= 1.0
    assert len(scores["responses"]) == 6
    # a trained model answers (an untrained one rambles or stops at once)
    assert sum(bool(r.strip()) for r in scores["responses"]) >= 4, scores
