"""Every baseline through `vlmdata curate method=X budget=0.2` on a small ToyWorld, offline:
one shared reference model (params.reference.model=tiny: the plan's reference job, run by the
command) and feature pass, byte-identical indices for a seed; the same selection with the
trained checkpoint given directly."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main

POOL_SIZE, BUDGET = 600, 120
MODEL_BASED = ("el2n", "perplexity", "semdedup", "d2_pruning", "self_sup", "self_filter")
# a small, fast reference (1 epoch) and tiny CLIP (60 steps): the code paths of the defaults
FAST = {
    "clip_score": ["params.clip_steps=60"],
    **{
        m: ["params.reference.training_overrides=[trainer.epochs=1]", "params.reference.device=cpu"]
        for m in MODEL_BASED
    },
}


SMOKE: list[str] = []  # the smoke sweep's foundation recipe (sweep_tools), set by `toyworld`


@pytest.fixture(scope="session")
def toyworld(tmp_path_factory, sweep_tools):
    """A 600-sample world, and its cache warmed by one model-based run (the reference model
    is trained and the one feature pass computed there)."""
    root = tmp_path_factory.mktemp("baselines")
    SMOKE.extend(sweep_tools.smoke_foundation)
    _curate(root, "el2n", "warm")
    return root


def _curate(root: Path, method: str, name: str, seed: int = 0, *extra: str) -> Path:
    out = root / "subsets" / f"{method}-{name}"
    code = main(
        [
            "curate",
            f"method={method}",
            "budget=0.2",
            f"seed={seed}",
            f"data.toyworld.out_dir={root / 'world'}",
            f"data.toyworld.pool_size={POOL_SIZE}",
            f"cache_dir={root / 'cache'}",
            f"out_dir={out}",
            "progress=false",
            *FAST[method],
            *SMOKE,
            *extra,
        ]
    )
    assert code == 0
    return out


def _pool_cache(root: Path) -> Path:
    (folder,) = [
        p for p in (root / "cache").iterdir() if p.name not in ("reference", "foundation", "tmp")
    ]
    return folder


def _reference(root: Path) -> Path:
    (run,) = (root / "cache" / "reference").iterdir()  # one tiny reference for all
    return run / "hf"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["clip_score", *MODEL_BASED])
def test_curate_is_deterministic_end_to_end(toyworld, method):
    first = _curate(toyworld, method, "a")
    # recompute what a run may recompute: clusterings and CLIP scores (not the models)
    for derived in ("kmeans", "clip_scores"):
        shutil.rmtree(_pool_cache(toyworld) / derived, ignore_errors=True)
    second = _curate(toyworld, method, "b")

    indices = np.load(first / "indices.npy", allow_pickle=False)
    assert (first / "indices.npy").read_bytes() == (second / "indices.npy").read_bytes()
    assert (first / "subset.json").read_bytes() == (second / "subset.json").read_bytes()
    assert len(indices) == BUDGET == len(set(indices.tolist()))
    assert indices.min() >= 0 and indices.max() < POOL_SIZE

    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"] == method
    assert manifest["config"]["params"]  # the resolved parameters, next to the details
    assert len(json.dumps(manifest["details"])) < 6000  # compact
    histograms = [
        v["histogram"]
        for v in manifest["details"].values()
        if isinstance(v, dict) and "histogram" in v
    ]
    assert histograms, f"{method} records no score summary"
    if method in MODEL_BASED:
        (features,) = (_pool_cache(toyworld) / "features").iterdir()  # one pass for all
        assert manifest["details"]["features"]["path"] == str(features)
        assert manifest["details"]["reference"]["name"] == str(_reference(toyworld))
        assert manifest["config"]["params"]["reference"]["model"] == "tiny"

        direct = _curate(toyworld, method, "c", 0, f"params.reference.model={_reference(toyworld)}")
        assert (direct / "indices.npy").read_bytes() == (first / "indices.npy").read_bytes()
        assert len(list((toyworld / "cache" / "reference").iterdir())) == 1


@pytest.mark.slow
def test_tiny_clip_scores_matched_pairs_above_mismatched(toyworld):
    """The trained tiny CLIP means something: a record's own text scores higher than a
    shuffled one, on average."""
    import torch

    from curation.features.clip import load_clip, load_image, record_text

    _curate(toyworld, "clip_score", "a")
    (model_dir,) = (_pool_cache(toyworld) / "clip").iterdir()
    records = json.loads((toyworld / "world" / "pool.json").read_text(encoding="utf-8"))
    records = [r for r in records if "image" in r][:128]
    model, tokenizer, images = load_clip(str(model_dir))
    text = tokenizer(
        [record_text(r, "conversation") for r in records],
        padding=True,
        truncation=True,
        max_length=77,
        return_tensors="pt",
    )
    pixels = images(
        images=[load_image(r, toyworld / "world", i) for i, r in enumerate(records)],
        return_tensors="pt",
    )["pixel_values"]
    with torch.inference_mode():
        a = model.get_image_features(pixel_values=pixels).pooler_output
        b = model.get_text_features(
            input_ids=text["input_ids"], attention_mask=text["attention_mask"]
        ).pooler_output
    cosine = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
    matched = cosine.diagonal().mean()
    mismatched = (cosine.sum() - cosine.diagonal().sum()) / (len(records) ** 2 - len(records))
    assert matched > mismatched + 0.02
