"""`vlmdata train` on bad inputs: a missing or unreadable image, a records file or subset that
does not exist or cannot be read, a batch that does not divide: one line on stderr, exit 2
(the `broken` records and the subset helpers are in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.data.subset import INDICES
from experiments.cli import main

# The tiny model trains in-process: one torch thread, as in tests/training.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cli_reports_bad_data_in_one_line(broken, tmp_path, capsys):
    code = main(
        [
            "train",
            f"records={broken}",
            f"image_root={tmp_path}",
            f"out_dir={tmp_path / 'run'}",
            "wandb.mode=disabled",
            "model.kind=tiny",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("vlmdata: error:") and "id='r1'" in err


def test_cli_rejects_a_global_batch_that_does_not_divide(tmp_path, capsys):
    code = main(
        [
            "train",
            f"records={tmp_path / 'x.json'}",
            f"out_dir={tmp_path / 'run'}",
            "trainer.global_batch_size=12",
            "loader.per_device_batch_size=8",
            "model.kind=tiny",
        ]
    )
    assert code == 2
    assert "trainer.global_batch_size" in capsys.readouterr().err


def test_cli_names_a_records_file_that_does_not_exist(tmp_path, capsys):
    code = main(["train", f"records={tmp_path / 'absent.json'}", f"out_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"vlmdata: error: records={tmp_path / 'absent.json'}: no such file"
    assert not (tmp_path / "run").exists()


def test_cli_train_on_a_broken_subset_is_one_line(tmp_path, pool_file, write_pool_subset, capsys):
    subset = write_pool_subset(tmp_path / "subset", pool_file, [1, 2]).path
    np.save(subset / INDICES, np.array([1, "x"], dtype=object), allow_pickle=True)
    code = main(["train", f"subset={subset}", f"out_dir={tmp_path / 'run'}", "wandb.mode=disabled"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and f"{subset / INDICES}: " in err
