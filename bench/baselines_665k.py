"""Benchmark: every selection method of the registry at LLaVA-665K's shape, from memory-mapped
features, on this machine: wall time and peak memory per method and budget.

    .venv/bin/python bench/baselines_665k.py                         # data, recall, methods
    .venv/bin/python bench/baselines_665k.py --parts data            # only write the inputs
    .venv/bin/python bench/baselines_665k.py --methods d2_pruning --budgets 0.2 --n 50000

Inputs (written once under --workdir, reused; bench/coincide_select.py's generator: clustered
unit-norm rows, log-normal cluster sizes over 10,000 clusters, correlated centres):
- last_token: N x 2,048 float16 (the reference's last-token states; SemDeDup);
- mean_last: N x 2,048 float32, another draw of the generator with log-normal row norms
  (mean-pooled states are not unit-norm; D2-Pruning, Self-Sup);
- coincide: bench/coincide_select.py's N x 20,480 float16 file (TinyLLaVA-2B's 5 layers x 2
  blocks x 2,048; COINCIDE and Self-Filter's default feature), with its synthetic clustering;
- answer_stats: N x 4 float32 (mean NLL log-normal, EL2N, AUM, answer tokens; 0.5% NaN:
  records without an answer token); CLIP scores N float64 (5% NaN: text-only records).

Every model-based baseline runs its own `select` with default parameters (except --set; by
default SemDeDup's k = 200 clusters: its ToyWorld k = 50 makes clusters of 13,000 records and
an O(sum of squared cluster sizes x D) dedup of ~25 minutes here) on a CurationContext
of N records: the shared reference pass is replaced by these files (the model's forward pass
is not what is timed; `reference_features` and CLIP's scoring are patched), k-means runs
from scratch in a fresh cache. COINCIDE is its selection stage on the synthetic clustering, as
bench/coincide_select.py times it (its K = 10,000 k-means over 20,480-d rows is a GPU job);
ADR's DR is bench/adr_rebalance.py's synthetic four-perspective pool (DR sizes itself: no
budget). Each (method, budget) runs in a fresh child process: time from the call of `select`,
peak resident memory sampled from /proc (anonymous, and including the pages of the mapped
files; not ru_maxrss, which Linux carries from the parent into a child). D2-Pruning's
approximate neighbour graph is checked against the exact one on a random sample of
--recall-sample rows (exact kNN of that sample vs the approximate graph built on the same
sample with the same HNSW settings), and on
--recall-queries rows of the full pool (their exact neighbours among all N rows vs the graph
the method builds at N).
Markdown rows go to stdout and a JSON file under --workdir.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coincide_select import MemoryWatch, drop_page_cache, make_features  # noqa: E402

BASELINES = (
    "el2n",
    "perplexity",
    "clip_score",
    "self_sup",
    "semdedup",
    "d2_pruning",
    "self_filter",
)
METHODS = ("random", "adr_dr", *BASELINES, "coincide")
COINCIDE_DIM, COINCIDE_K, HIDDEN = 20_480, 10_000, 2_048


# --- inputs ---------------------------------------------------------------------------------


def write_inputs(workdir: Path, n: int, coincide_dir: Path) -> dict[str, float]:
    """Every input file (reused when present); seconds spent per file."""
    spent: dict[str, float] = {}
    spent["last_token"] = make_features(workdir / f"last_token-{n}", n, 10_000, HIDDEN, seed=0)
    mean_last = workdir / f"mean_last-{n}.npy"
    if not mean_last.is_file():
        start = time.perf_counter()
        draw = workdir / f"mean_last-draw-{n}"
        make_features(draw, n, 10_000, HIDDEN, seed=1)
        rows = np.load(draw / "features.npy", mmap_mode="r")
        norms = np.random.default_rng(1).lognormal(2.0, 0.3, size=(n, 1)).astype(np.float32)
        tmp = mean_last.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, HIDDEN))
        for lo in range(0, n, 16384):
            out[lo : lo + 16384] = rows[lo : lo + 16384].astype(np.float32) * norms[lo : lo + 16384]
        out.flush()
        del out, rows
        os.replace(tmp, mean_last)
        for name in ("features.npy", "assignments.npy", "centroids.npy", "meta.json"):
            (draw / name).unlink()
        draw.rmdir()
        spent["mean_last"] = time.perf_counter() - start
    stats = workdir / f"answer_stats-{n}.npy"
    if not stats.is_file():
        rng = np.random.default_rng(2)
        nll = rng.lognormal(0.0, 0.6, size=n)
        table = np.column_stack(
            [
                nll,
                np.clip(0.4 * nll + rng.normal(0, 0.1, size=n), 0, 1.41),
                np.tanh(1.0 - nll + rng.normal(0, 0.2, size=n)),
                rng.integers(1, 400, size=n),
            ]
        ).astype(np.float32)
        table[rng.choice(n, size=n // 200, replace=False), :3] = np.nan
        np.save(stats, table)
        clip = rng.normal(0.3, 0.05, size=n)
        clip[rng.choice(n, size=n // 20, replace=False)] = np.nan
        np.save(workdir / f"clip_scores-{n}.npy", clip)
    spent["coincide"] = make_features(
        coincide_dir / f"full-{n}-{COINCIDE_K}-{COINCIDE_DIM}", n, COINCIDE_K, COINCIDE_DIM, seed=0
    )
    return spent


class BenchFeatures:
    """The FeatureSet interface (`load`, `sha256`, `path`) over the bench's files."""

    def __init__(self, workdir: Path, n: int, coincide_dir: Path) -> None:
        self.path = workdir
        self.files = {
            "last_token": workdir / f"last_token-{n}" / "features.npy",
            "mean_last": workdir / f"mean_last-{n}.npy",
            "answer_stats": workdir / f"answer_stats-{n}.npy",
            "coincide": coincide_dir / f"full-{n}-{COINCIDE_K}-{COINCIDE_DIM}" / "features.npy",
        }

    def load(self, kind: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.files[kind], mmap_mode="r" if mmap else None, allow_pickle=False)

    def sha256(self, kind: str) -> str:
        return f"bench:{self.files[kind]}"


class BenchReference:
    name, fingerprint = "bench-synthetic", "bench"


class Pool:
    """N records that nothing reads: a method sees only the pool's length."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not -self.n <= i < self.n:
            raise IndexError(i)  # ends iteration
        return {}


# --- one method in a child process ------------------------------------------------------------


def run_method(
    name: str,
    budget: float,
    workdir: Path,
    n: int,
    coincide_dir: Path,
    approximate_from: int,
    overrides: list[str],
) -> dict:
    import importlib

    from curation.method import CurationContext
    from curation.registry import METHODS as REGISTRY
    from curation.registry import build_method

    if name == "coincide":
        return run_coincide(budget, coincide_dir, n)
    if name == "adr_dr":
        return run_adr_dr(n)
    features = BenchFeatures(workdir, n, coincide_dir)
    for path in features.files.values():
        if path.exists():  # COINCIDE's 25 GiB file only Self-Filter reads
            drop_page_cache(path)
    module = importlib.import_module(REGISTRY[name].split(":")[0])
    for reader in (module, importlib.import_module("curation.methods.baselines.answer_band")):
        if hasattr(reader, "reference_features"):
            reader.reference_features = lambda params, ctx: (features, BenchReference())
    if name == "clip_score":
        scores = np.load(workdir / f"clip_scores-{n}.npy")
        module.resolve_clip = lambda *args, **kwargs: ("bench-clip", "bench")
        module.clip_scores = lambda *args, **kwargs: scores
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        ctx = CurationContext(
            pool_path=workdir / "pool.json",
            image_root=None,
            records=Pool(n),  # type: ignore[arg-type]
            pool_sha256="bench",
            cache_dir=Path(scratch),
            run_dir=Path(scratch),
            seed=0,
            progress=False,
        )
        params: dict[str, Any] = {}
        if name in ("d2_pruning", "self_filter") and approximate_from >= 0:
            params["approximate_from"] = approximate_from
        for item in overrides:  # method.key=value (integers)
            key, value = item.split("=", 1)
            if key.split(".", 1)[0] == name:
                params[key.split(".", 1)[1]] = int(value)
        method = build_method(name, params)
        start = time.perf_counter()
        with MemoryWatch() as watch:
            selection = method.select(ctx, int(budget * n))
        seconds = time.perf_counter() - start
    indices = np.asarray(selection.indices)
    assert len(indices) == int(budget * n) and len(np.unique(indices)) == len(indices), name
    return {
        "seconds": seconds,
        "selected": len(indices),
        "peak": watch.peak,
        "details": {k: v for k, v in selection.details.items() if k in ("eps", "knn", "at_scale")},
    }


def run_coincide(budget: float, coincide_dir: Path, n: int) -> dict:
    from coincide_select import run_full

    result = run_full(coincide_dir / f"full-{n}-{COINCIDE_K}-{COINCIDE_DIM}", COINCIDE_DIM, budget)
    return {"seconds": result["seconds"], "selected": result["selected"], "peak": result["peak"]}


def run_adr_dr(n: int) -> dict:
    from adr_rebalance import LLAVA_665K, synthetic_table

    from curation.methods.adr.rebalance import RebalanceParams, rebalance

    rng = np.random.default_rng(0)
    tables = {shape.name: synthetic_table(shape, n, rng) for shape in LLAVA_665K}
    params = RebalanceParams(perspectives=[s.name for s in LLAVA_665K])
    start = time.perf_counter()
    with MemoryWatch() as watch:
        result = rebalance(tables, params, seed=42)
    return {
        "seconds": time.perf_counter() - start,
        "selected": int(result.kept.size),
        "peak": watch.peak,
    }


def child(args: argparse.Namespace) -> None:
    where = (args.workdir, args.n, args.coincide_dir, args.approximate_from, args.set)
    result = run_method(args.child, args.child_budget, *where)
    print("RESULT " + json.dumps(result), flush=True)


# --- recall of D2's approximate graph --------------------------------------------------------


def recall(workdir: Path, n: int, sample: int, queries: int) -> dict[str, Any]:
    from curation.methods.baselines.d2_pruning import D2Params, knn_settings
    from curation.methods.baselines.neighbours import knn_recall, nearest_neighbours

    p = D2Params()
    x = np.load(workdir / f"mean_last-{n}.npy", mmap_mode="r")
    rng = np.random.default_rng(5)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    part = np.asarray(x[rows], dtype=np.float32)
    settings = knn_settings(p, len(part), force_approximate=True)
    start = time.perf_counter()
    exact = nearest_neighbours(part, p.n_neighbors, "l2")
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    approx = nearest_neighbours(part, p.n_neighbors, "l2", settings)
    approx_s = time.perf_counter() - start
    out: dict[str, Any] = {
        "sample": len(part),
        "settings": dataclasses.asdict(settings),
        "sample_recall": knn_recall(approx.ids, exact.ids),
        "sample_exact_s": exact_s,
        "sample_approx_s": approx_s,
    }
    if queries:
        import faiss

        full_settings = knn_settings(p, n, force_approximate=True)
        start = time.perf_counter()
        graph = nearest_neighbours(x, p.n_neighbors, "l2", full_settings)
        out["full_graph_s"] = time.perf_counter() - start
        asked = np.sort(rng.choice(n, size=queries, replace=False))
        best = np.full((queries, p.n_neighbors + 1), np.inf)
        best_ids = np.zeros((queries, p.n_neighbors + 1), dtype=np.int64)
        q = np.asarray(x[asked], dtype=np.float32)
        for lo in range(0, n, 65536):  # exact: every row of the pool, a block at a time
            block = np.asarray(x[lo : lo + 65536], dtype=np.float32)
            d, i = faiss.knn(q, block, p.n_neighbors + 1)
            merged_d = np.concatenate([best, d], 1)
            merged_i = np.concatenate([best_ids, i + lo], 1)
            order = np.argsort(merged_d, axis=1, kind="stable")[:, : p.n_neighbors + 1]
            best, best_ids = (np.take_along_axis(a, order, 1) for a in (merged_d, merged_i))
        pairs = zip(asked, best_ids, strict=True)
        exact_ids = np.array([[j for j in row if j != i][: p.n_neighbors] for i, row in pairs])
        out["full_queries"] = queries
        out["full_settings"] = dataclasses.asdict(full_settings)
        out["full_recall"] = knn_recall(graph.ids[asked], exact_ids)
    return out


# --- the parent --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": os.getloadavg(),
        "numpy": np.__version__,
    }


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=665_298)
    parser.add_argument("--budgets", default="0.05,0.2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--parts", default="data,recall,methods")
    parser.add_argument("--recall-sample", type=int, default=20_000)
    parser.add_argument("--recall-queries", type=int, default=1_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "outputs/bench/baselines_665k")
    parser.add_argument("--coincide-dir", type=Path, default=ROOT / "outputs/bench/coincide_select")
    parser.add_argument(
        "--approximate-from",
        type=int,
        default=-1,
        help="params.approximate_from of D2-Pruning and Self-Filter (default: theirs)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=["semdedup.k=200"],
        help="method.key=INT parameter override (default: semdedup.k=200, see RESULTS.md)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args)
        return
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {"machine": machine(), "n": args.n, "command": " ".join(sys.argv)}
    print(json.dumps(report["machine"]), flush=True)
    if "data" in parts:
        report["inputs_s"] = write_inputs(args.workdir, args.n, args.coincide_dir)
        print(f"inputs written in {report['inputs_s']} s (0: reused)", flush=True)
    if "recall" in parts:
        report["recall"] = recall(args.workdir, args.n, args.recall_sample, args.recall_queries)
        print(json.dumps(report["recall"]), flush=True)
    rows = []
    if "methods" in parts:
        for name in args.methods.split(","):
            for budget in [float(b) for b in args.budgets.split(",")]:
                if name == "adr_dr" and rows and rows[-1]["method"] == "adr_dr":
                    continue  # DR sizes itself: one run
                load = os.getloadavg()[0]
                command = [sys.executable, __file__, "--child", name, "--child-budget", str(budget)]
                command += ["--n", str(args.n), "--workdir", str(args.workdir)]
                command += ["--coincide-dir", str(args.coincide_dir)]
                command += ["--approximate-from", str(args.approximate_from)]
                command += [f"--set={item}" for item in args.set]
                done = subprocess.run(command, capture_output=True, text=True)
                line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
                if done.returncode or not line:
                    print(done.stdout[-2000:], done.stderr[-4000:], flush=True)
                    rows.append({"method": name, "budget": budget, "failed": done.returncode})
                    continue
                result = json.loads(line[0][len("RESULT ") :])
                row = {"method": name, "budget": budget, "load_at_start": load, **result}
                rows.append(row)
                print(
                    f"| {name} | {budget:.0%} | {result['selected']:,} | "
                    f"{result['seconds']:.1f} s | {gib(result['peak']['RssAnon'])} | "
                    f"{gib(result['peak']['VmRSS'])} | {load:.1f} |",
                    flush=True,
                )
        report["methods"] = rows
    report["load_average_end"] = os.getloadavg()
    out = args.workdir / f"results-{args.n}.json"
    runs = json.loads(out.read_text()).get("runs", []) if out.exists() else []
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"runs": [*runs, report]}, indent=1))  # every invocation kept
    tmp.replace(out)
    print(f"added to {out}")


if __name__ == "__main__":
    main()
