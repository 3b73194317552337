"""What a training run directory holds (importable without torch or Lightning).

<out_dir>/.vlmdata-run.json    written first: which config's run this is (curation.data.outdir)
<out_dir>/config.yaml          the resolved config
<out_dir>/train_summary.json   written last: the run finished
<out_dir>/hf/                  the exported HF checkpoint (export=true)
<out_dir>/checkpoints/         Lightning checkpoints (last.ckpt resumes)
<out_dir>/csv/  <out_dir>/wandb/   metrics
"""

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SUMMARY = "train_summary.json"
EXPORT_DIR = "hf"
CHECKPOINT_DIR = "checkpoints"
CONFIG = "config.yaml"
RUN_KIND = "training run"
RUN_FILES = (SUMMARY, EXPORT_DIR, CHECKPOINT_DIR, CONFIG, "csv", "wandb")

# Keys that may change between a run and its resumption: where and how it reports and loads,
# not what it computes. The inputs are keyed by content instead of path (run_identity).
RESUME_MAY_CHANGE = (
    "out_dir",
    "subset",
    "records",
    "image_root",
    "resume",
    "export",
    "wandb",
    "model.local_files_only",
    "loader.num_workers",
    "loader.pin_memory",
    "loader.verify_images",
    "trainer.progress_bar",
    "trainer.log_every_n_steps",
    "trainer.checkpoint_every_n_steps",
    "trainer.keep_checkpoints",
)


def finished_export(run_dir: str | Path) -> Path | None:
    """The exported checkpoint of a finished run, or None."""
    run_dir = Path(run_dir)
    done = (run_dir / SUMMARY).is_file() and (run_dir / EXPORT_DIR).is_dir()
    return run_dir / EXPORT_DIR if done else None


def run_identity(config: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's result depends on: the resolved config without RESUME_MAY_CHANGE, and the
    inputs' identity; a run directory is resumed only by a config with the same identity."""
    kept = copy.deepcopy(dict(config))
    for dotted in RESUME_MAY_CHANGE:
        *parents, leaf = dotted.split(".")
        node = kept
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return {"config": kept, "inputs": dict(inputs)}
