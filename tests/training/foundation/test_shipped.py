"""Foundations shipped with the project: copied in place of a build when the key matches,
checked byte for byte, never served for another key; the demo world's one is current."""

import json

import pytest

import training.foundation.build as build
from configs.compose import compose, config_path, to_object
from experiments.schemas import SweepConfig
from experiments.sweep import sweep_graph
from training.foundation.build import MANIFEST, SHIPPED_PARTS, build_foundation, foundation_key
from training.foundation.recipe import FoundationRecipe
from training.foundation.shipped import (
    ROOT,
    ShippedFoundationError,
    ship,
    shipped_folder,
)


def _part_files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for part in SHIPPED_PARTS
        for p in ([folder / part] if (folder / part).is_file() else (folder / part).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def no_build(monkeypatch):
    """build._build replaced by a recorder that builds nothing."""
    calls = []
    monkeypatch.setattr(build, "_build", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def shipped_root(small_foundation, tmp_path):
    root = tmp_path / "shipped"
    ship(small_foundation, SHIPPED_PARTS, MANIFEST, root)
    return root


def test_shipping_copies_the_parts_and_lists_each_files_sha256(small_foundation, shipped_root):
    key = json.loads((small_foundation / MANIFEST).read_text())["key"]
    folder = shipped_folder(key, shipped_root)
    assert [p.name for p in shipped_root.iterdir()] == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*SHIPPED_PARTS, MANIFEST])
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["shipped"]["files"]) == set(_part_files(small_foundation))
    assert manifest["shipped"]["built_on"]


def test_a_shipped_foundation_of_the_key_is_copied_instead_of_built(
    small_foundation, shipped_root, world_config, small_recipe, tmp_path, no_build
):
    out = build_foundation(world_config, small_recipe, tmp_path / "f", shipped_root=shipped_root)
    assert no_build == []
    assert _part_files(out) == _part_files(small_foundation)
    made = json.loads((small_foundation / MANIFEST).read_text())
    copied = json.loads((out / MANIFEST).read_text())
    assert copied["key"] == made["key"] and copied["checks"] == made["checks"]
    assert "shipped" in copied and not (out / "corpus").exists()


def test_use_shipped_false_or_another_recipe_builds(
    shipped_root, world_config, small_recipe, tmp_path, no_build
):
    build_foundation(
        world_config, small_recipe, tmp_path / "a", shipped_root=shipped_root, use_shipped=False
    )
    other = FoundationRecipe(**{**small_recipe.__dict__, "seed": small_recipe.seed + 1})
    build_foundation(world_config, other, tmp_path / "b", shipped_root=shipped_root)
    assert [call[2] for call in no_build] == [
        foundation_key(world_config, small_recipe),
        foundation_key(world_config, other),
    ]


@pytest.mark.parametrize("change", ["flip", "extra", "missing", "missing part"])
def test_a_shipped_file_that_is_not_its_listed_bytes_is_refused_naming_it(
    small_foundation, shipped_root, world_config, small_recipe, tmp_path, no_build, change
):
    folder = shipped_folder(
        json.loads((small_foundation / MANIFEST).read_text())["key"], shipped_root
    )
    projector = folder / build.PROJECTOR_FILE
    named = projector
    if change == "flip":
        data = bytearray(projector.read_bytes())
        data[-1] ^= 1
        projector.write_bytes(bytes(data))
    elif change == "extra":
        named = folder / build.CLIP_DIR / "stray.bin"
        named.write_bytes(b"x")
    elif change == "missing":
        named = folder / build.CLIP_DIR / "config.json"
        named.unlink()
    else:
        projector.unlink()
    with pytest.raises(ShippedFoundationError) as error:
        build_foundation(world_config, small_recipe, tmp_path / "f", shipped_root=shipped_root)
    assert str(named) in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "f").exists() and no_build == []


def test_shipping_replaces_the_foundation_shipped_before(small_foundation, tmp_path):
    root = tmp_path / "shipped"
    (root / "toyworld-000000000000").mkdir(parents=True)
    folder = ship(small_foundation, SHIPPED_PARTS, MANIFEST, root)
    assert [p.name for p in root.iterdir()] == [folder.name]


def test_a_copied_foundation_is_not_shipped_again(
    shipped_root, world_config, small_recipe, tmp_path
):
    out = build_foundation(world_config, small_recipe, tmp_path / "f", shipped_root=shipped_root)
    with pytest.raises(ShippedFoundationError, match="copied from a shipped foundation"):
        ship(out, SHIPPED_PARTS, MANIFEST, tmp_path / "again")


@pytest.mark.parametrize("preset", ["toyworld_demo", "toyworld_curve"])
def test_the_demo_world_foundation_ships_with_this_code(tmp_path, preset):
    sweep = to_object(compose(SweepConfig, config_path("sweep", preset), []))
    sweep.overrides = [*sweep.overrides, f"store={tmp_path}"]
    keys = {job.key for job in sweep_graph(sweep).jobs.values() if job.stage == "foundation"}
    assert len(keys) == 1
    key = keys.pop()
    manifest = shipped_folder(key, ROOT) / MANIFEST
    assert manifest.is_file(), (
        f"no foundation shipped for key {key[:12]} (the code or recipe changed): run "
        "`vlmdata toyworld pretrain ship=true` and commit training/foundation/shipped/"
    )
    assert json.loads(manifest.read_text())["key"] == key
