"""`vlmdata toyworld pretrain`: a world's foundation models from the command line."""

import json

import pytest

from experiments.cli import main


@pytest.mark.usefixtures("one_torch_thread")
def test_pretrain_makes_the_foundation_once_and_says_how_to_use_it(tmp_path, capsys, sweep_tools):
    recipe = [o.removeprefix("data.") for o in sweep_tools.smoke_foundation]
    out = tmp_path / "foundation"
    command = ["toyworld", "pretrain", f"out_dir={out}", "toyworld.seed=5", "progress=false"]
    assert main([*command, *recipe]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "foundation.json").read_text())
    assert manifest["world"]["seed"] == 5
    assert manifest["recipe"]["vision"]["steps"] == 10
    assert "caption retrieval" in printed
    captions = manifest["checks"]["captions"]
    assert f"shapes {100 * captions['shape']:.1f}% (grey image" in printed
    grounded = manifest["checks"]["grounded"]
    assert set(grounded) == {"existence", "shape", "spatial"}
    spatial = grounded["spatial"]
    assert (
        f"spatial {100 * spatial['accuracy']:.1f}% (grey {100 * spatial['grey']:.1f}%)" in printed
    )
    assert f"model.kind=assemble model.foundation={out}" in printed
    made = (out / "foundation.json").stat().st_mtime_ns
    assert main([*command, *recipe]) == 0
    assert (out / "foundation.json").stat().st_mtime_ns == made


def test_pretrain_refuses_an_unknown_recipe_key_in_one_line(tmp_path, capsys):
    assert main(["toyworld", "pretrain", f"out_dir={tmp_path}", "foundation.vision.stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "stepz" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("grounded", ["colours=5", "shape=-1", "spatial=1.5"])
def test_pretrain_refuses_an_impossible_grounded_count_in_one_line(tmp_path, capsys, grounded):
    command = [
        "toyworld",
        "pretrain",
        f"out_dir={tmp_path}",
        f"foundation.align.grounded.{grounded}",
    ]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    key = grounded.split("=")[0]
    assert "\n" not in err and f"foundation.align.grounded.{key}" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["make", "pretrain"])
def test_an_impossible_world_is_one_line(tmp_path, capsys, command):
    assert (
        main(
            [
                "toyworld",
                command,
                f"out_dir={tmp_path / 'w'}",
                "toyworld.image_size=8" if command == "pretrain" else "image_size=8",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == "vlmdata: error: toyworld.image_size: must be at least 16 px, got 8"
    assert not (tmp_path / "w").exists()


@pytest.mark.usefixtures("one_torch_thread")
def test_pretrain_ship_builds_then_ships_and_a_second_clone_copies_it(
    tmp_path, capsys, sweep_tools, monkeypatch
):
    import training.foundation.shipped as shipped

    monkeypatch.setattr(shipped, "ROOT", tmp_path / "shipped")
    recipe = [o.removeprefix("data.") for o in sweep_tools.smoke_foundation]
    command = ["toyworld", "pretrain", "toyworld.seed=6", "progress=false", *recipe]
    assert main([*command, f"out_dir={tmp_path / 'built'}", "ship=true"]) == 0
    key = json.loads((tmp_path / "built" / "foundation.json").read_text())["key"]
    folder = shipped.shipped_folder(key)
    assert f"shipped: {folder}" in capsys.readouterr().out
    assert main([*command, f"out_dir={tmp_path / 'copied'}"]) == 0
    made = json.loads((folder / "foundation.json").read_text())
    seconds = sum(made["seconds"].values())
    copied = (
        f"copied from the shipped one, {seconds:.0f} s to make on {made['shipped']['built_on']}"
    )
    assert copied in capsys.readouterr().out
    projector = "projector.safetensors"
    assert (tmp_path / "copied" / projector).read_bytes() == (folder / projector).read_bytes()
    assert not (tmp_path / "copied" / "corpus").exists()
    assert main([*command, f"out_dir={tmp_path / 'local'}", "use_shipped=false"]) == 0
    assert (tmp_path / "local" / "corpus").is_dir()
