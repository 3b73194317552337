"""Golden prompt snapshots: for every task of every shipped suite, the exact prompt that
vlmdata_llava builds for the task's first document and the sha256 of its first image's pixels
after pre-processing (default options: vicuna_v1, pad). A changed prompt, template, task option
or pre-processing step fails here; when the change is intended, `pytest --update-golden`
rewrites tests/evaluation/golden/ and the diff is reviewed.

Data: the toyworld suite reads benchmark files in make_world's schema (fixtures/toyworld_bench.py,
square images as ToyWorld draws them). The real benchmarks are not available offline: each is a
fixture document in its hub schema (fixtures/real_tasks.py, wider-than-tall images) run through
lmms-eval's own task code, so the snapshot pins the task's prompt format, not a real item.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from curation.data.fileio import atomic_write_json
from evaluation.materialize import materialize
from evaluation.run import offline, task_manager
from evaluation.suites import eval_config, suite_names

GOLDEN = Path(__file__).resolve().parent / "golden"
DATA = {
    "toyworld": "tests/evaluation/fixtures/toyworld_bench.py (make_world's schema)",
    "real": "tests/evaluation/fixtures/real_tasks.py (a fixture document in the task's hub "
    "schema: the benchmark's data is not available offline)",
}
# Pixels are rounded to 1e-4 before hashing: the last float bits of a normalisation may differ
# between CPU kernels, the pre-processing steps this pins never move a value by less.
PIXEL_DECIMALS = 4


def pixels_sha256(pixels) -> str:
    quantised = np.rint(pixels.numpy().astype(np.float64) * 10**PIXEL_DECIMALS).astype("<i8")
    return hashlib.sha256(quantised.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    return VlmdataLlava(str(tiny_checkpoint), progress=False)


def snapshot(model, suite: str, data_root: Path, tasks_dir: Path) -> dict:
    """suite -> the first document's prompt and first-image checksum of each of its tasks, as
    `vlmdata eval` would hand them to the model."""
    from lmms_eval.tasks import get_task_dict

    cfg = eval_config([f"suite={suite}", f"data_root={data_root}"])
    tasks = {}
    run_tasks = materialize(cfg, cfg.tasks, tasks_dir)
    with offline(True):
        manager = task_manager(tasks_dir)
        for run_task in run_tasks:
            task = get_task_dict([run_task.lmms_name], manager, "chat")[run_task.lmms_name]
            task.build_all_requests(limit=1)
            request = task.instances[0]
            model.task_dict[run_task.lmms_name] = task.dataset
            text, images = model._prompt(request)
            entry = {"prompt": text, "images": len(images)}
            if images:
                pixels = model._inputs([(text, images)])["pixel_values"][0]
                entry["first_image"] = {
                    "size": list(images[0].size),
                    "pixel_shape": list(pixels.shape),
                    "pixels_sha256": pixels_sha256(pixels),
                }
            tasks[run_task.spec.name] = entry
    return {
        "suite": suite,
        "data": DATA["toyworld" if suite == "toyworld" else "real"],
        "model": {
            "chat_template": model.chat_template,
            "image_aspect_ratio": model.image_aspect_ratio,
            "image_processor": "the tiny checkpoint's (tests/conftest.py tiny_checkpoint)",
        },
        "tasks": tasks,
    }


@pytest.mark.slow
@pytest.mark.parametrize("suite", suite_names())
def test_prompt_snapshot(
    suite, model, real_data_root, toyworld_bench_root, tmp_path, update_golden, monkeypatch
):
    # mmvet's task code builds its judge client on import; no judge is called here
    monkeypatch.setenv("OPENAI_API_KEY", "unused-prompt-snapshot")
    data_root = toyworld_bench_root if suite == "toyworld" else real_data_root
    actual = snapshot(model, suite, data_root, tmp_path)
    path = GOLDEN / f"prompts_{suite}.json"
    if update_golden:
        atomic_write_json(path, actual, indent=1)
    assert path.is_file(), f"no golden file {path}: run pytest --update-golden and review it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(actual["tasks"]) == sorted(expected["tasks"]), "the suite's tasks changed"
    for name, entry in expected["tasks"].items():
        assert actual["tasks"][name] == entry, f"{suite}/{name} changed"
    assert actual == expected
    # every task of the shipped suites shows its model an image
    assert all(entry["images"] >= 1 for entry in actual["tasks"].values())
