"""Benchmark: do COINCIDE's clusters group ToyWorld's samples by concept and skill?

    .venv/bin/python bench/coincide_purity.py [--pool-size 2000] [--workdir /tmp/vlmdata-purity]

COINCIDE's premise is that k-means on a reference LVLM's activations finds concept-skill
clusters. On ToyWorld the ground truth is known, so this measures it: `vlmdata curate
config=coincide_toyworld` runs twice on the demo's world, with
  - new: the reference of today (the world's foundation models finetuned on the pool,
    configs/training/reference_tiny.yaml), and
  - old: the reference before the foundation models (a tiny LLaVA trained from scratch on the
    pool for 6 epochs: model.kind=tiny, its frozen vision tower random),
and the purity of each clustering is computed against three labels of a sample: the skill of
its first question, the concept ("colour shape") of its scene's first object, and the pair.
Purity = the share of samples whose cluster's most common label is their own; the chance
figure is the mean purity of 20 random assignments with the same cluster sizes.
Prints a markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# the old reference as it was trained: from scratch, 6 epochs at lr 3e-3 (reference_tiny.yaml's
# rate then; it is 1e-3 for the foundation today)
OLD_REFERENCE = (
    "params.reference.training_overrides=[model.kind=tiny,trainer.epochs=6,optim.lr=3e-3]"
)


def purity(assignments: np.ndarray, labels: list[str]) -> float:
    majority = 0
    for cluster in np.unique(assignments):
        members = np.flatnonzero(assignments == cluster)
        majority += Counter(labels[i] for i in members).most_common(1)[0][1]
    return majority / len(labels)


def chance(assignments: np.ndarray, labels: list[str], draws: int = 20) -> float:
    rng = np.random.default_rng(0)
    return float(np.mean([purity(rng.permutation(assignments), labels) for _ in range(draws)]))


def sample_labels(world: Path) -> dict[str, list[str]]:
    pool = json.loads((world / "pool.json").read_text(encoding="utf-8"))
    objects = {}
    for line in (world / "annotations.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        first = row["objects"][0]
        objects[row["id"]] = f"{first['colour']} {first['shape']}"
    skill = [r["skills"][0] for r in pool]
    concept = [objects.get(r["id"], "text-only") for r in pool]
    return {
        "skill": skill,
        "concept": concept,
        "concept x skill": [f"{c} | {s}" for c, s in zip(concept, skill, strict=True)],
    }


def curate(workdir: Path, name: str, pool_size: int, *extra: str) -> tuple[Path, float]:
    out = workdir / "subsets" / name
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "curate",
            "--force",
            "config=coincide_toyworld",
            f"data.toyworld.out_dir={workdir / 'world'}",
            f"data.toyworld.pool_size={pool_size}",
            f"cache_dir={workdir / 'cache'}",
            f"out_dir={out}",
            "progress=false",
            *extra,
        ],
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vlmdata-purity"))
    args = parser.parse_args()
    rows = []
    for name, extra in (("new", ()), ("old", (OLD_REFERENCE,))):
        out, seconds = curate(args.workdir, name, args.pool_size, *extra)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assignments = np.load(Path(manifest["details"]["kmeans"]["path"]) / "assignments.npy")
        labels = sample_labels(args.workdir / "world")
        rows.append(
            (
                name,
                manifest["details"]["kmeans"]["k"],
                {k: (purity(assignments, v), chance(assignments, v)) for k, v in labels.items()},
                seconds,
            )
        )
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load {os.getloadavg()[0]:.2f}; command: .venv/bin/python bench/coincide_purity.py "
        f"--pool-size {args.pool_size}\n"
    )
    keys = list(rows[0][2])
    print("| reference | k | " + " | ".join(f"purity: {k} (chance)" for k in keys) + " | s |")
    print("|---|---|" + "---|" * len(keys) + "---|")
    for name, k, figures, seconds in rows:
        cells = " | ".join(f"{100 * p:.1f}% ({100 * c:.1f}%)" for p, c in figures.values())
        print(f"| {name} | {k} | {cells} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
