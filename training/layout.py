"""What a training run directory holds (importable without torch or Lightning).

    <out_dir>/train_summary.json   written last: the run finished
    <out_dir>/hf/                  the exported HF checkpoint (export=true)
    <out_dir>/checkpoints/         Lightning checkpoints (last.ckpt resumes)
"""

from pathlib import Path

SUMMARY = "train_summary.json"
EXPORT_DIR = "hf"
CHECKPOINT_DIR = "checkpoints"


def finished_export(run_dir: str | Path) -> Path | None:
    """The exported checkpoint of a finished run, or None."""
    run_dir = Path(run_dir)
    done = (run_dir / SUMMARY).is_file() and (run_dir / EXPORT_DIR).is_dir()
    return run_dir / EXPORT_DIR if done else None
