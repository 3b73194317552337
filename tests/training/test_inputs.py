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
