"""COINCIDE as a curation method: byte-identical subsets, and ToyWorld end to end.

Whether COINCIDE's subsets are more diverse than random ones is an outcome, measured over seeds
in bench/coincide_diversity.py, not asserted here."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.data.fileio import sha256_file
from curation.data.records import load_records
from curation.features.extract import FeatureRequest, extract_features, hf_reference
from curation.features.reference import ReferencePassParams
from curation.method import BudgetError
from curation.methods.coincide.method import CoincideParams, CoincideSelection
from curation.run import curate

SHAPES = ("circle", "square", "cross", "bar")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _draw(shape: str, colour: tuple[int, int, int], rng: np.random.Generator) -> Image.Image:
    canvas = np.full((32, 32, 3), 235.0) + rng.normal(0, 8, size=(32, 32, 3))
    yy, xx = np.mgrid[:32, :32]
    cy, cx = rng.integers(11, 21, size=2)
    mask = {
        "circle": (yy - cy) ** 2 + (xx - cx) ** 2 < 64,
        "square": (abs(yy - cy) < 7) & (abs(xx - cx) < 7),
        "cross": (abs(yy - cy) < 2) | (abs(xx - cx) < 2),
        "bar": abs(yy - cy) < 3,
    }[shape]
    canvas[mask] = colour
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """120 records (some text-only) and a tiny untrained reference saved as an HF directory."""
    from training.models import build_tiny_llava
    from training.tokenizer import record_texts

    root = tmp_path_factory.mktemp("coincide-pool")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    records = []
    for i in range(120):
        shape, colour = SHAPES[i % 4], list(COLOURS)[i % 3]
        if i % 10 == 9:
            records.append(
                {
                    "id": f"t{i}",
                    "conversations": [
                        {"from": "human", "value": f"What does a {shape} look like?"},
                        {"from": "gpt", "value": f"A {shape} is a simple shape."},
                    ],
                }
            )
            continue
        _draw(shape, COLOURS[colour], rng).save(root / "images" / f"{i}.png")
        records.append(
            {
                "id": f"r{i}",
                "image": f"images/{i}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat is in the picture?"},
                    {"from": "gpt", "value": f"A {colour} {shape}."},
                ],
            }
        )
    (root / "pool.json").write_text(json.dumps(records))
    model, processor = build_tiny_llava(list(record_texts(records)), seed=0)
    model.save_pretrained(root / "ref")
    processor.save_pretrained(root / "ref")
    return root


def _params(pool: Path, **overrides) -> CoincideParams:
    reference = ReferencePassParams(
        model=str(pool / "ref"),
        layers=[0, 1],
        batch_size=16,
        chunk_size=32,
        max_length=256,
        device="cpu",
        cpu_threads=1,
    )
    values = dict(reference=reference, k=8, niter=20, kmeans_device="cpu")
    return CoincideParams(**{**values, **overrides})


def _run(pool: Path, out: Path, cache: Path, **overrides):
    return curate(
        CoincideSelection(_params(pool, **overrides)),
        pool_path=pool / "pool.json",
        image_root=pool,
        budget=0.25,
        seed=1234,
        out_dir=out,
        cache_root=cache,
        config={"method": "coincide"},
        progress=False,
    )


@pytest.mark.slow
def test_same_features_and_seed_give_byte_identical_indices(pool, tmp_path):
    first = _run(pool, tmp_path / "a", tmp_path / "cache1")
    cached = _run(pool, tmp_path / "b", tmp_path / "cache1")  # features and k-means from cache
    fresh = _run(pool, tmp_path / "c", tmp_path / "cache2")  # everything recomputed

    # the same features, extracted as 3 shards (SLURM-array style) before the run merges them
    records = load_records(pool / "pool.json", image_root=pool).records
    request = FeatureRequest(
        layers=(0, 1),
        kinds=("coincide",),
        batch_size=16,
        chunk_size=32,
        max_length=256,
        device="cpu",
        cpu_threads=1,
    )  # as _params
    pool_cache = tmp_path / "cache3" / sha256_file(pool / "pool.json")[:16]
    for shard in range(3):
        extract_features(
            records,
            pool,
            hf_reference(pool / "ref"),
            request,
            pool_cache,
            sha256_file(pool / "pool.json"),
            shard=shard,
            num_shards=3,
            progress=False,
        )
    sharded = _run(pool, tmp_path / "d", tmp_path / "cache3")

    expected = (tmp_path / "a" / "indices.npy").read_bytes()
    for name in ("b", "c", "d"):
        assert (tmp_path / name / "indices.npy").read_bytes() == expected
        same = (tmp_path / name / "subset.json").read_bytes()
        assert same == (tmp_path / "a" / "subset.json").read_bytes()
    assert len(first) == 30 == len(set(first.indices.tolist()))
    details = first.manifest["details"]
    assert details["selected"] == 30 and details["kmeans"]["k"] == 8
    assert sum(details["per_cluster"]["taken"]) == 30
    for other in (cached, fresh, sharded):
        assert other.manifest["details"]["features"]["sha256"] == details["features"]["sha256"]
        assert other.manifest["details"]["kmeans"]["key"] == details["kmeans"]["key"]


def test_more_clusters_than_samples_is_a_budget_error(pool, tmp_path):
    with pytest.raises(BudgetError, match="params.k"):
        _run(pool, tmp_path / "x", tmp_path / "cache", k=500)
