"""`vlmdata train`: finetune LLaVA-1.5 (full or LoRA) on a subset; export an HF checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from configs.compose import (
    ConfigError,
    choices_hint,
    compose,
    config_path,
    group_choices,
    to_object,
)
from experiments.commands import add_command, add_force, add_overrides
from training.config import FOUNDATION_OF_WORLD, TrainingConfig

# where a standalone `vlmdata train` keeps a world's foundation (as `vlmdata curate`'s cache_dir)
FOUNDATION_CACHE = Path("outputs/cache")


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
        "config is refused: layout.RESUME_MAY_CHANGE lists the keys that may differ). "
        "model.foundation=world (tiny.yaml): the foundation models of the ToyWorld the data "
        f"comes from, made once under {FOUNDATION_CACHE}/foundation/.",
        keys="keys: subset=DIR | records=PATH image_root=DIR  out_dir=DIR  method=full|lora  "
        "seed=N  model.kind=tiny|hf|assemble  trainer.devices=N  trainer.strategy=...  "
        "trainer.global_batch_size=N  loader.per_device_batch_size=N  optim.lr=X  "
        "wandb.mode=offline|online|disabled  (every key of training.config.TrainingConfig)",
    )
    parser.add_argument(
        "--config",
        default="tiny",
        help="a training config (default: tiny): a YAML path, or one of "
        f"{', '.join(group_choices('training'))}",
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
    if not Path(yaml).is_file():
        raise ConfigError(
            f"--config {args.config}: no config '{args.config}' in group 'training'"
            f"{choices_hint('training')}"
        )
    cfg: TrainingConfig = to_object(compose(TrainingConfig, yaml, args.overrides))
    use_world_foundation(cfg)
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


def use_world_foundation(cfg: TrainingConfig, cache_root: Path = FOUNDATION_CACHE) -> None:
    """model.foundation=world: make (or find) the foundation models of the ToyWorld that the
    subset or records come from, and point the config at them."""
    if cfg.model.kind != "assemble" or cfg.model.foundation != FOUNDATION_OF_WORLD:
        return
    import dataclasses

    from omegaconf import OmegaConf

    from experiments.plan import foundation_job
    from experiments.schemas import DataConfig
    from experiments.stages import execute
    from toyworld.config import as_toyworld_config
    from training.inputs import resolve_inputs

    records, _, pool = resolve_inputs(cfg.subset, cfg.records, cfg.image_root)
    world = (pool or records).parent
    if not (world / "world.json").is_file():
        raise ConfigError(
            f"model.foundation={FOUNDATION_OF_WORLD}: {pool or records} is not a ToyWorld pool "
            "(no world.json beside it); give model.foundation=DIR (`vlmdata toyworld pretrain`) "
            "or the model's parts (model.language_model, model.vision_tower, model.projector)"
        )
    recorded = OmegaConf.to_container(OmegaConf.load(world / "config.yaml"))
    data = DataConfig(toyworld=as_toyworld_config(recorded))
    training = dataclasses.asdict(cfg)
    job = foundation_job(training, data, cache_root, cfg.trainer.progress_bar, "vlmdata train")
    if job is not None:
        execute(job)
        cfg.model.foundation = job.out_dir
