"""Training from a subset directory: records, image root and tokenizer come from its pool."""

from __future__ import annotations

import json

from curation.data.subset import write_subset
from training.models import load_hf_llava
from training.train import train


def _subset(world, out, indices):
    pool = json.loads((world / "pool.json").read_text(encoding="utf-8"))
    return write_subset(
        out,
        method="test",
        indices=indices,
        records=[pool[i] for i in indices],
        pool_path=world / "pool.json",
        pool_size=len(pool),
        config={},
        seed=0,
    )


def test_subsets_of_one_pool_train_the_same_tokenizer(world, tmp_path, tiny_config):
    vocabularies = []
    for name, indices in (("even", list(range(0, 60, 2))), ("odd", list(range(1, 60, 2)))):
        subset = _subset(world, tmp_path / name, indices)
        result = train(
            tiny_config(
                tmp_path / f"run_{name}",
                f"subset={subset.path}",
                "trainer.max_steps=2",
                "trainer.global_batch_size=8",
                "loader.per_device_batch_size=8",
            )
        )
        assert result.summary["records"]["used"] == 30
        assert result.summary["records"]["path"] == str(subset.records_path)
        _, processor = load_hf_llava(str(result.export_dir))
        vocabularies.append(processor.tokenizer.get_vocab())
    assert vocabularies[0] == vocabularies[1]


def test_gradient_checkpointing_with_lora_trains(world, tmp_path, tiny_config):
    subset = _subset(world, tmp_path / "subset", list(range(16)))
    result = train(
        tiny_config(
            tmp_path / "run",
            f"subset={subset.path}",
            "method=lora",
            "model.gradient_checkpointing=true",
            "trainer.max_steps=2",
            "trainer.global_batch_size=8",
            "loader.per_device_batch_size=4",
            "export=false",
        )
    )
    assert result.global_step == 2 and result.export_dir is None
    assert result.summary["accumulate_grad_batches"] == 2


def test_a_subsets_image_root_comes_from_its_manifest(tmp_path, pool_file, write_pool_subset):
    """The pool's images live apart from the pool file: the manifest's root is used unless
    image_root is given; a subset without one falls back to its pool's folder."""
    from training.inputs import resolve_inputs

    images, elsewhere = tmp_path / "images", tmp_path / "elsewhere"
    images.mkdir()
    elsewhere.mkdir()
    write_pool_subset(tmp_path / "s", pool_file, [0, 1], image_root=images)
    _, root, pool = resolve_inputs(subset=str(tmp_path / "s"))
    assert root == images.resolve() and pool == pool_file[0]
    _, root, _ = resolve_inputs(subset=str(tmp_path / "s"), image_root=str(elsewhere))
    assert root == elsewhere  # an explicit one wins
    write_pool_subset(tmp_path / "t", pool_file, [0])
    _, root, _ = resolve_inputs(subset=str(tmp_path / "t"))
    assert root == pool_file[0].parent
