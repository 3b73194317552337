"""decontaminate(): the clean pool, removed.jsonl and the report, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from curation.data.outdir import OutputDirError
from curation.data.records import RecordError
from curation.decontaminate.benchmarks import BenchmarkSource
from curation.decontaminate.config import DecontaminateConfig, NearConfig
from curation.decontaminate.run import decontaminate

LEAKED_QUESTION = (
    "Quick one: in the scene number 2, which of the many figures drawn on the canvas is "
    "the largest one overall 2"
)


def _record(record_id: str, question: str, image: str | None = None) -> dict:
    prompt = f"<image>\n{question}" if image else question
    record = {
        "id": record_id,
        "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": "ok"}],
    }
    return {**record, "image": image} if image else record


@pytest.fixture
def pool(tmp_path: Path, tools: SimpleNamespace) -> Path:
    """exact (q3's image), near (q4's, noisy), text (q2's question), two clean records."""
    images = tmp_path / "pool" / "img"
    images.mkdir(parents=True)
    noisy = tools.picture(104).astype(np.float64)
    noisy += np.random.default_rng(0).normal(0, 2, noisy.shape)
    pictures = {
        "exact.png": tools.picture(103),
        "near.png": np.clip(np.rint(noisy), 0, 255).astype(np.uint8),
        "clean.png": tools.picture(9),
    }
    for name, pixels in pictures.items():
        Image.fromarray(pixels).save(images / name)
    records = [
        _record("r-exact", "What is shown?", "img/exact.png"),
        _record("r-clean", "What is shown?", "img/clean.png"),
        _record("r-near", "Describe it.", "img/near.png"),
        _record("r-text", LEAKED_QUESTION),
        _record("r-plain", "Tell me a joke about squares and circles."),
    ]
    path = tmp_path / "pool" / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _run(pool: Path, benchmark_file: Path, out: Path, **kwargs: object) -> dict:
    cfg = DecontaminateConfig(suite="mine", progress=False, near=NearConfig(max_hamming=64))
    sources = [BenchmarkSource("task_a", (str(benchmark_file),))]
    return decontaminate(pool, sources, cfg, out, **kwargs)


def test_writes_the_pool_without_its_leaks(pool: Path, benchmark_file: Path, tmp_path) -> None:
    out = tmp_path / "out"
    report = _run(pool, benchmark_file, out, unchecked_tasks=["task_b"])
    kept = [json.loads(line)["id"] for line in (out / "pool.jsonl").read_text().splitlines()]
    assert kept == ["r-clean", "r-plain"]
    removed = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    assert [(r["position"], r["id"], [m["kind"] for m in r["matches"]]) for r in removed] == [
        (0, "r-exact", ["exact"]),
        (2, "r-near", ["near"]),
        (3, "r-text", ["text"]),
    ]
    assert report["records"] == {"read": 5, "kept": 2, "removed": 3, "skipped": {}}
    assert report["matched_by_kind"] == {"exact": 1, "near": 1, "text": 1}
    task = report["tasks"]["task_a"]
    assert task["matched_records"] == {"exact": 1, "near": 1, "text": 1}
    assert task["examples"]["text"] == [{"record": "r-text", "item": "q2", "overlap": 1.0}]
    assert json.loads((out / "report.json").read_text()) == report
    markdown = (out / "report.md").read_text()
    assert "| task_a | 6 | 6 | 6 of 6 | 1 | 1 | 1 |" in markdown
    assert "Not checked (no local data): task_b." in markdown
    assert "suite: mine" in (out / "config.yaml").read_text()


def test_a_clean_pool_keeps_everything(tmp_path: Path, benchmark_file: Path) -> None:
    path = tmp_path / "clean.json"
    path.write_text(json.dumps([_record("a", "Tell me a joke about squares and circles.")]))
    report = _run(path, benchmark_file, tmp_path / "out")
    assert report["records"]["removed"] == 0
    assert json.loads((tmp_path / "out" / "pool.json").read_text())[0]["id"] == "a"


def test_invalid_records_are_skipped_when_asked(pool: Path, benchmark_file: Path, tmp_path):
    with pool.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "bad", "conversations": []}) + "\n")
    report = _run(pool, benchmark_file, tmp_path / "out", on_error="skip")
    assert report["records"]["skipped"] == {"conversations_empty": 1}
    assert report["records"]["kept"] == 2


def test_out_dir_of_something_else_is_refused_and_its_own_replaced(
    pool: Path, benchmark_file: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="holds no decontaminated pool"):
        _run(pool, benchmark_file, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    out = tmp_path / "out"
    _run(pool, benchmark_file, out)
    (out / "pool.jsonl").write_text("stale")
    _run(pool, benchmark_file, out)
    assert len((out / "pool.jsonl").read_text().splitlines()) == 2


def test_a_failed_run_leaves_no_output(pool: Path, benchmark_file: Path, tmp_path: Path) -> None:
    (pool.parent / "img" / "near.png").write_bytes(b"broken")
    with pytest.raises(RecordError, match="image_unreadable"):
        _run(pool, benchmark_file, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
