"""`vlmdata curate config=coincide_toyworld` end to end from a ToyWorld pool: the tiny reference
trained by the command's reference job (params.reference.model=tiny), features extracted,
clustered and selected; then the same selection with that checkpoint given directly."""

import json

import numpy as np
import pytest

from experiments.cli import main


def _curate(tmp_path, out, smoke, *extra):
    return main(
        [
            "curate",
            "config=coincide_toyworld",
            "params.k=24",
            f"out_dir={out}",
            f"data.toyworld.out_dir={tmp_path / 'world'}",
            "data.toyworld.pool_size=1200",
            f"cache_dir={tmp_path / 'cache'}",
            "budget=0.2",
            "progress=false",
            *smoke,
            *extra,
        ]
    )


@pytest.mark.slow
def test_coincide_toyworld_end_to_end_with_a_trained_and_a_given_reference(tmp_path, sweep_tools):
    smoke = sweep_tools.smoke_foundation
    world, out = tmp_path / "world", tmp_path / "coincide"
    assert _curate(tmp_path, out, smoke) == 0
    chosen = np.load(out / "indices.npy")
    assert len(chosen) == 240 == len(set(chosen.tolist()))
    assert chosen.min() >= 0 and chosen.max() < 1200
    pool = json.loads((world / "pool.json").read_text(encoding="utf-8"))
    subset = json.loads((out / "subset.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in subset] == [pool[i]["id"] for i in chosen.tolist()]

    manifest = json.loads((out / "manifest.json").read_text())
    details = manifest["details"]
    (reference,) = (tmp_path / "cache" / "reference").iterdir()
    assert reference.name.startswith("reference_tiny-")
    assert details["reference"]["name"] == str(reference / "hf")
    assert manifest["config"]["params"]["reference"]["model"] == "tiny"
    per_cluster = details["per_cluster"]
    assert sum(per_cluster["size"]) == 1200 and sum(per_cluster["taken"]) == 240
    assert all(0 <= t <= s for t, s in zip(per_cluster["taken"], per_cluster["size"], strict=True))

    direct = tmp_path / "direct"
    assert _curate(tmp_path, direct, smoke, f"params.reference.model={reference / 'hf'}") == 0
    assert (direct / "indices.npy").read_bytes() == (out / "indices.npy").read_bytes()
    assert (direct / "subset.json").read_bytes() == (out / "subset.json").read_bytes()
    assert [p.name for p in (tmp_path / "cache" / "reference").iterdir()] == [reference.name]
