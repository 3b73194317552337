"""run_eval with blind=true: the model sees only grey images, so its answers cannot depend on
the benchmark's images; a blind run is never mixed with the real run of the same checkpoint;
scores.json carries each task's n and binomial SE."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.data.outdir import OutputDirError
from evaluation.run import default_run_name, run_eval, run_identity
from evaluation.suites import eval_config

TASKS = ("toyworld_colour", "toyworld_counting")
LIMIT = 6


def _cfg(checkpoint: Path, data_root: Path, out: Path, *extra: str):
    return eval_config(
        [
            f"checkpoint={checkpoint}",
            "suite=toyworld",
            f"data_root={data_root}",
            f"out_dir={out}",
            f"limit={LIMIT}",
            f"only=[{','.join(TASKS)}]",
            "gen_kwargs=max_new_tokens=6",
            "wandb.mode=disabled",
            *extra,
        ]
    )


def _swapped_images(source: Path, target: Path) -> Path:
    """A copy of the benchmarks whose image column is rotated by one: item i shows item i+1's
    image, everything else (questions, answers, ids) unchanged."""
    shutil.copytree(source, target)
    for path in (target / "benchmarks").glob("*.parquet"):
        table = pq.read_table(path)  # keeps the schema and its HF features metadata
        images = table.column("image").combine_chunks()
        rotated = pa.concat_arrays([images.slice(1), images.slice(0, 1)])
        index = table.schema.get_field_index("image")
        pq.write_table(table.set_column(index, table.schema.field(index), rotated), path)
    return target


def _answers(run_dir: Path) -> dict[str, list]:
    """task -> every item's (doc_id, answer), from the samples files lmms-eval wrote."""
    scores = json.loads((run_dir / "scores.json").read_text())
    answers = {}
    for task, entry in scores["tasks"].items():
        lines = (run_dir / entry["samples"]).read_text().splitlines()
        samples = sorted((json.loads(line) for line in lines), key=lambda s: s["doc_id"])
        answers[task] = [(s["doc_id"], s["filtered_resps"]) for s in samples]
    return answers


@pytest.fixture(scope="module")
def runs(tiny_checkpoint, toyworld_bench_root, tmp_path_factory):
    """Blind and real runs of one checkpoint over the benchmarks and over their swapped copy,
    with every image the model was handed recorded per run."""
    from evaluation.model import VlmdataLlava

    work = tmp_path_factory.mktemp("blind")
    swapped = _swapped_images(toyworld_bench_root, work / "swapped")
    seen: dict[str, list[Image.Image]] = {}
    generate = VlmdataLlava._generate

    def recording(self, prompts, gen_kwargs):
        seen[current].extend(image for _, images in prompts for image in images)
        return generate(self, prompts, gen_kwargs)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(VlmdataLlava, "_generate", recording)
    out = {}
    try:
        for name, data_root, extra in [
            ("blind", toyworld_bench_root, ["blind=true"]),
            ("blind_swapped", swapped, ["blind=true"]),
            ("real", toyworld_bench_root, []),
            ("real_swapped", swapped, []),
        ]:
            current = name
            seen[name] = []
            out[name] = run_eval(_cfg(tiny_checkpoint, data_root, work / name, *extra)).run_dir
    finally:
        monkeypatch.undo()
    return out, seen


def test_the_model_is_handed_grey_images_of_the_originals_sizes(runs, toyworld_bench_root):
    _, seen = runs
    assert len(seen["blind"]) == len(seen["real"]) == LIMIT * len(TASKS)
    for blind, real in zip(seen["blind"], seen["real"], strict=True):
        assert blind.size == real.size and blind.mode == "RGB"
        assert blind.getcolors() == [(blind.width * blind.height, (128, 128, 128))]
    assert any(len(image.getcolors()) > 1 for image in seen["real"])  # real images are not grey


def test_blind_answers_do_not_depend_on_the_images(runs):
    dirs, _ = runs
    blind, blind_swapped = _answers(dirs["blind"]), _answers(dirs["blind_swapped"])
    assert set(blind) == set(TASKS) and all(len(items) == LIMIT for items in blind.values())
    assert blind == blind_swapped
    # the check can fail: with the real images, the same swap changes some answers
    assert _answers(dirs["real"]) != _answers(dirs["real_swapped"])


def test_blind_and_real_runs_never_share_a_run_or_a_task(
    runs, tiny_checkpoint, toyworld_bench_root
):
    dirs, _ = runs
    blind = json.loads((dirs["blind"] / "scores.json").read_text())
    real = json.loads((dirs["real"] / "scores.json").read_text())
    assert blind["blind"] is True and real["blind"] is False
    for task in TASKS:  # the task keys differ: a blind result is never reused for a real run
        blind_task = json.loads((dirs["blind"] / "lmms_eval" / task / "task.json").read_text())
        real_task = json.loads((dirs["real"] / "lmms_eval" / task / "task.json").read_text())
        assert blind_task["key"] != real_task["key"]
    results = json.loads((dirs["blind"] / blind["tasks"][TASKS[0]]["results"]).read_text())
    assert "blind=true" in results["config"]["model_args"]  # lmms-eval's record says so too

    cfg_real = _cfg(tiny_checkpoint, toyworld_bench_root, dirs["real"])
    cfg_blind = _cfg(tiny_checkpoint, toyworld_bench_root, dirs["real"], "blind=true")
    assert run_identity(cfg_real, "sha") != run_identity(cfg_blind, "sha")
    assert "blind" not in run_identity(cfg_real, "sha")["config"]  # older runs keep their identity
    assert (default_run_name(cfg_real), default_run_name(cfg_blind)) == (
        "toyworld",
        "toyworld-blind",
    )
    with pytest.raises(OutputDirError, match="differs in: blind"):
        run_eval(cfg_blind)  # into the real run's out_dir


def test_scores_json_has_each_tasks_n_and_binomial_se(runs):
    dirs, _ = runs
    for name in ("blind", "real"):
        scores = json.loads((dirs[name] / "scores.json").read_text())
        for task, entry in scores["tasks"].items():
            lines = (dirs[name] / entry["samples"]).read_text().splitlines()
            items = [json.loads(line)["score"]["score"] for line in lines]
            p = sum(items) / len(items)
            assert entry["n"] == len(items) == LIMIT
            assert entry["raw"] == pytest.approx(p)
            assert entry["se"] == pytest.approx(100 * math.sqrt(p * (1 - p) / LIMIT)), task
        assert "±" in (dirs[name] / "scores.md").read_text()
