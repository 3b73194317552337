"""The scores mean something: on the same ToyWorld suite, a model trained longer scores higher."""

import pytest

from configs.compose import compose, config_path, to_object
from evaluation.run import run_eval
from evaluation.suites import eval_config


def train_tiny(world, out_dir, steps):
    from training.config import TrainingConfig
    from training.train import train

    cfg = to_object(
        compose(
            TrainingConfig,
            config_path("training", "tiny"),
            [
                f"records={world / 'pool.json'}",
                f"image_root={world}",
                f"out_dir={out_dir}",
                f"trainer.max_steps={steps}",
                "wandb.mode=disabled",
                "trainer.progress_bar=false",
                "model.kind=tiny",  # the from-scratch model: the foundation's are in tests/training
            ],
        )
    )
    return train(cfg).export_dir


@pytest.mark.slow  # trains two tiny models (~1 min on 2 cores)
def test_trained_longer_scores_higher(tmp_path):
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    world = make_world(
        ToyWorldConfig(
            out_dir=str(tmp_path / "world"), pool_size=600, benchmark_items_per_skill=30
        ),
        progress=False,
    )
    scores = {}
    for steps in (10, 150):
        checkpoint = train_tiny(world, tmp_path / f"train{steps}", steps)
        run = run_eval(
            eval_config(
                [
                    f"checkpoint={checkpoint}",
                    "suite=toyworld",
                    f"data_root={world}",
                    f"out_dir={tmp_path / f'eval{steps}'}",
                    "wandb.mode=disabled",
                ]
            )
        )
        scores[steps] = {name: entry["score"] for name, entry in run.scores["tasks"].items()}
        assert all(entry["n"] == 30 for entry in run.scores["tasks"].values())
    mean = {steps: sum(values.values()) / len(values) for steps, values in scores.items()}
    assert mean[150] > mean[10] + 5.0, scores
    better = sum(scores[150][task] > scores[10][task] for task in scores[150])
    assert better >= 4, scores
