import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.data.records import write_records
from experiments.cli import main


def _records(n):
    return [
        {
            "id": f"s{i}",
            "conversations": [
                {"from": "human", "value": f"question {i}?"},
                {"from": "gpt", "value": f"answer {i}"},
            ],
        }
        for i in range(n)
    ]


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "pool.jsonl"
    write_records(path, _records(10))
    return path


@pytest.fixture
def bad_pool(tmp_path):
    records = _records(4)
    records[2]["conversations"][1]["from"] = "human"
    path = tmp_path / "bad.json"
    write_records(path, records)
    return path


def test_help_lists_every_stage():
    out = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("data", "toyworld", "curate"):
        assert command in out


def test_validate_ok(pool, capsys):
    assert main(["data", "validate", str(pool), "progress=false"]) == 0
    assert "all 10 records are valid" in capsys.readouterr().out


def test_validate_raise_gives_one_line(bad_pool, capsys):
    assert main(["data", "validate", str(bad_pool), "progress=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlmdata: error: ") and "\n" not in err
    assert "record 2" in err and "s2" in err and "roles_not_alternating" in err


def test_validate_skip_counts_and_writes_valid(bad_pool, tmp_path, capsys):
    out = tmp_path / "clean.json"
    assert (
        main(["data", "validate", str(bad_pool), "on_error=skip", f"out={out}", "progress=false"])
        == 1
    )
    printed = capsys.readouterr().out
    assert "3 of 4 records are valid" in printed and "roles_not_alternating" in printed
    assert [r["id"] for r in json.loads(out.read_text())] == ["s0", "s1", "s3"]


def test_config_key_typo_is_named(pool, capsys):
    assert main(["data", "validate", str(pool), "on_eror=skip"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'on_eror'" in err and "on_error" in err
    assert main(["data", "validate", str(pool), "on_error=ignore"]) == 2
    assert "must be one of raise|skip" in capsys.readouterr().err


def test_stats(pool, capsys):
    assert main(["data", "stats", str(pool), "progress=false"]) == 0
    assert "10" in capsys.readouterr().out


def test_missing_pool_file(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err


def _curate(pool, out, *extra):
    return main(
        [
            "curate",
            "method=random",
            "data.kind=llava",
            f"data.pool={pool}",
            f"out_dir={out}",
            "progress=false",
            f"cache_dir={out.parent / 'cache'}",
            *extra,
        ]
    )


def test_curate_random_is_deterministic(pool, tmp_path):
    assert _curate(pool, tmp_path / "a", "budget=0.3", "seed=5") == 0
    assert _curate(pool, tmp_path / "b", "budget=0.3", "seed=5") == 0
    assert _curate(pool, tmp_path / "c", "budget=0.3", "seed=6") == 0
    a = np.load(tmp_path / "a" / "indices.npy")
    assert a.dtype == np.int64 and len(a) == 3 and len(set(a.tolist())) == 3
    for name in ("indices.npy", "subset.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not np.array_equal(a, np.load(tmp_path / "c" / "indices.npy"))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["budget"] == 0.3 and manifest["config"]["data"]["pool"] == str(pool)


def test_curate_random_size_matched(pool, tmp_path):
    assert _curate(pool, tmp_path / "a", "budget=4") == 0
    assert _curate(pool, tmp_path / "m", f"params.match={tmp_path / 'a'}", "seed=1") == 0
    assert len(np.load(tmp_path / "m" / "indices.npy")) == 4


@pytest.mark.parametrize(
    "extra, message",
    [
        (["budget=11"], "exceeds the pool of 10"),
        (["budget=0"], "budget must be > 0"),
        (["budget=2.5"], "must be whole"),
        (["params.mach=x"], "unknown config key 'params.mach'"),
        (["method=nope"], "unknown curation method 'nope'; available: "),
    ],
)
def test_curate_impossible_requests(pool, tmp_path, capsys, extra, message):
    assert _curate(pool, tmp_path / "s", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_curate_config_picks_a_named_curation_file(pool, tmp_path, capsys):
    def curate_with(config, out):
        return main(
            [
                "curate",
                f"config={config}",
                "data.kind=llava",
                f"data.pool={pool}",
                f"out_dir={out}",
                "progress=false",
                f"cache_dir={tmp_path / 'cache'}",
            ]
        )

    assert curate_with("full", tmp_path / "m") == 0
    assert len(np.load(tmp_path / "m" / "indices.npy")) == 10
    assert curate_with("nope", tmp_path / "n") == 2
    err = capsys.readouterr().err
    assert "no config 'nope' in group 'curation'; choices: " in err and "random_aa" in err


@pytest.fixture
def tiny_reference(pool, tmp_path):
    from training.models import build_tiny_llava
    from training.tokenizer import record_texts

    model, processor = build_tiny_llava(list(record_texts(_records(10))), seed=0)
    model.save_pretrained(tmp_path / "ref")
    processor.save_pretrained(tmp_path / "ref")
    return tmp_path / "ref"


def test_features_in_shards_then_curate_equals_one_pass(pool, tiny_reference, tmp_path, capsys):
    def run(command, cache, *extra):
        return main(
            [
                command,
                "method=el2n",
                "data.kind=llava",
                f"data.pool={pool}",
                f"params.reference.model={tiny_reference}",
                "params.reference.chunk_size=3",
                "params.reference.batch_size=2",
                "params.reference.device=cpu",
                "progress=false",
                f"cache_dir={cache}",
                *extra,
            ]
        )

    sharded, single = tmp_path / "sharded", tmp_path / "single"
    for shard, chunks_done in ((1, 2), (0, 4)):  # 10 records in 4 chunks of 3
        assert run("features", sharded, f"shard={shard}", "num_shards=2") == 0
        assert "cached" in capsys.readouterr().out
        assert len(list(sharded.glob("*/features/*/parts/*/done"))) == chunks_done
    assert not list(sharded.glob("*/features/*/meta.json")), "shards alone never merge"
    assert run("curate", sharded, "budget=4", f"out_dir={tmp_path / 'a'}") == 0
    assert run("curate", single, "budget=4", f"out_dir={tmp_path / 'b'}") == 0
    assert (tmp_path / "a" / "indices.npy").read_bytes() == (
        tmp_path / "b" / "indices.npy"
    ).read_bytes()
    merged = [next(root.glob("*/features/*/answer_stats.npy")) for root in (sharded, single)]
    assert merged[0].read_bytes() == merged[1].read_bytes()

    assert run("features", sharded, "shard=2", "num_shards=2") == 2
    assert "shard=2 num_shards=2" in capsys.readouterr().err
    assert (
        main(
            [
                "features",
                "method=random",
                "data.kind=llava",
                f"data.pool={pool}",
                f"cache_dir={tmp_path / 'r'}",
                "progress=false",
            ]
        )
        == 2
    )
    assert "method=random has no reference feature pass" in capsys.readouterr().err


def test_pool_keys_on_the_default_data_config_name_the_fix(pool, tmp_path, capsys):
    code = main(["curate", f"data.pool={pool}", f"out_dir={tmp_path / 's'}", "progress=false"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "data.pool" in err and "add data=llava" in err
    assert not (tmp_path / "s").exists()


def test_data_llava_reads_the_given_pool(pool, tmp_path):
    args = ["curate", "method=full", "data=llava", f"data.pool={pool}", "progress=false"]
    assert main([*args, f"out_dir={tmp_path / 's'}", f"cache_dir={tmp_path / 'c'}"]) == 0
    subset = json.loads((tmp_path / "s" / "subset.json").read_text())
    assert [r["id"] for r in subset] == [f"s{i}" for i in range(10)]


def test_config_dir_flag_adds_choices_to_help_and_errors(tmp_path, capsys, monkeypatch):
    from configs.compose import CONFIG_PATH_ENV

    monkeypatch.delenv(CONFIG_PATH_ENV, raising=False)
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "usersuite.yaml").write_text("suite: usersuite\n")
    (tmp_path / "curation").mkdir()
    (tmp_path / "curation" / "userpreset.yaml").write_text("method: random\n")
    with pytest.raises(SystemExit):
        main(["--config-dir", str(tmp_path), "eval", "--help"])
    assert "usersuite" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([f"--config-dir={tmp_path}", "curate", "--help"])
    assert "userpreset" in capsys.readouterr().out
    assert main(["--config-dir", str(tmp_path), "eval", "checkpoint=x", "suite=nope"]) == 2
    err = capsys.readouterr().err
    assert "usersuite" in err and str(tmp_path.resolve() / "evaluation") in err
    assert CONFIG_PATH_ENV not in os.environ  # main leaves the environment as it found it
    assert main(["--config-dir", str(tmp_path / "absent"), "eval", "suite=x"]) == 2
    assert "--config-dir: no such directory" in capsys.readouterr().err


def test_config_dir_is_a_global_option(tmp_path):
    from experiments.cli import config_dirs_given

    argv = ["--config-dir", "a", "--config-dir=b", "curate", "--config-dir", "c"]
    assert config_dirs_given(argv) == ["a", "b"]


def test_curate_a_parquet_pool_with_embedded_images(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pngs = []
    for colour in ("red", "blue", "green"):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 12), colour).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    turns = [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "a"}]
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "image": pa.array([{"bytes": p, "path": None} for p in pngs], image),
            "conversations": [turns] * 3,
        }
    )
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pq.write_table(table, tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    args = ["curate", "method=full", "data=llava", f"data.pool={tmp_path / 'hub'}"]
    out = tmp_path / "s"
    assert main([*args, f"out_dir={out}", f"cache_dir={tmp_path / 'c'}", "progress=false"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    root = Path(manifest["config"]["data"]["image_root"])
    assert root.parent == (tmp_path / "c" / "pool-images").resolve()
    subset = json.loads((out / "subset.json").read_text())
    for record, png in zip(subset, pngs, strict=True):
        assert (root / record["image"]).read_bytes() == png
