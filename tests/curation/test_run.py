"""curate(): the manifest records what the selection cost and what it ran on."""

import json

from curation.registry import build_method
from curation.run import curate


def test_the_manifest_records_the_selections_cost(tmp_path, pool_file):
    path, _ = pool_file
    subset = curate(
        build_method("random", {}),
        pool_path=path,
        image_root=None,
        budget=0.5,
        seed=0,
        out_dir=tmp_path / "subset",
        cache_root=tmp_path / "cache",
        config={"method": "random"},
        progress=False,
    )
    timings = subset.manifest["timings_s"]
    assert timings["total"] >= timings["load_pool"] + timings["select"]
    assert subset.manifest["device"] == "cpu"
    assert json.loads((tmp_path / "subset" / "manifest.json").read_text())["device"] == "cpu"
