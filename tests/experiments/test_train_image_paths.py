"""`vlmdata train` opens only images under its image root: an image outside it is a one-line
error, and loader.image_paths=any uses it (the `escaping` records are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from experiments.cli import main

# The tiny model trains in-process: one torch thread, as in tests/training.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cli_train_refuses_an_outside_image_in_one_line(escaping, tmp_path, capsys):
    root, _, path = escaping
    code = main(
        [
            "train",
            f"records={path}",
            f"image_root={root}",
            f"out_dir={tmp_path / 'run'}",
            "wandb.mode=disabled",
            "model.kind=tiny",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "image_outside_root" in err and "id='r1'" in err


@pytest.mark.slow
def test_cli_train_with_image_paths_any_uses_them(escaping, tmp_path, capsys):
    root, _, path = escaping
    code = main(
        [
            "train",
            f"records={path}",
            f"image_root={root}",
            f"out_dir={tmp_path / 'run'}",
            "wandb.mode=disabled",
            "loader.image_paths=any",
            "model.kind=tiny",
            "trainer.max_steps=1",
            "trainer.global_batch_size=4",
            "loader.per_device_batch_size=4",
            "trainer.progress_bar=false",
            "export=false",
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = (tmp_path / "run" / "train_summary.json").read_text()
    assert '"used": 4' in summary and '"skipped_at_load": {}' in summary
