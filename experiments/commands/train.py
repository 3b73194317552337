"""`vlmdata train`: finetune LLaVA-1.5 (full or LoRA) on a subset; export an HF checkpoint."""

from __future__ import annotations

import argparse

from configs.compose import compose, config_path, to_object
from experiments.commands import add_command, add_force, add_overrides
from training.config import TrainingConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "train",
        _train,
        help="finetune LLaVA-1.5 on a subset (full or LoRA) and export an HF checkpoint",
        description="Compose configs/training/<config>.yaml with key=value overrides and train. "
        "Inputs: subset=DIR (a curation output), or records=PATH image_root=DIR. The run "
        "directory out_dir=DIR gets config.yaml, checkpoints/, csv/, wandb/ (offline), hf/ "
        "and train_summary.json; running the same command again resumes a killed run (a changed "
        "config is refused: layout.RESUME_MAY_CHANGE lists the keys that may differ).",
        keys="keys: subset=DIR | records=PATH image_root=DIR  out_dir=DIR  method=full|lora  "
        "seed=N  model.kind=tiny|hf|assemble  trainer.devices=N  trainer.strategy=...  "
        "trainer.global_batch_size=N  loader.per_device_batch_size=N  optim.lr=X  "
        "wandb.mode=offline|online|disabled  (every key of training.config.TrainingConfig)",
    )
    parser.add_argument(
        "--config",
        default="tiny",
        help="a name in configs/training/ or a YAML path (default: tiny)",
    )
    add_force(
        parser,
        "discard out_dir's run of another config, or write into an out_dir of "
        "other files (never /, the home directory or a folder holding an input)",
    )
    add_overrides(parser)


def _train(args: argparse.Namespace) -> int:
    yaml = (
        args.config
        if args.config.endswith((".yaml", ".yml"))
        else config_path("training", args.config)
    )
    cfg: TrainingConfig = to_object(compose(TrainingConfig, yaml, args.overrides))
    from training.train import train  # torch and transformers load only when training

    result = train(cfg, force=args.force)
    summary = result.summary
    print(
        f"trained {summary['global_step']} steps; loss {summary['loss_first']} -> "
        f"{summary['loss_last']}; run: {result.run_dir}"
    )
    skipped = summary["records"]["skipped_at_load"]
    if summary["truncated"] or skipped or summary["skipped_at_train"]:
        print(
            f"data: {summary['truncated']} of {summary['samples_seen']} samples truncated at "
            f"model.model_max_length; skipped records: {skipped or 0} at load, "
            f"{summary['skipped_at_train']} during training"
        )
    if result.export_dir is not None:
        print(f"exported HF checkpoint: {result.export_dir}")
    return 0
