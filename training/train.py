"""One finetuning run, start to finish: `train(cfg)`.

    <out_dir>/.vlmdata-run.json    which config's run this is (written first; see layout.py)
    <out_dir>/config.yaml          the resolved config
    <out_dir>/checkpoints/         Lightning checkpoints (last.ckpt resumes the run)
    <out_dir>/csv/version_N/metrics.csv  loss, lr, grad norm, tokens/s, samples/s (N: session)
    <out_dir>/wandb/               the offline W&B run (sync later with `wandb sync`)
    <out_dir>/hf/                  the exported HF checkpoint (training.export)
    <out_dir>/train_summary.json   steps, losses, throughput, data counts (written last)

Re-running a finished run returns its summary; re-running a killed one resumes from last.ckpt;
both only for a config of the same identity (layout.RESUME_MAY_CHANGE lists what may differ).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from configs.compose import ConfigError, resolved_dict
from curation.data.fileio import atomic_write_json, atomic_write_text, save_resolved, sha256_json
from curation.data.outdir import check_run, claim_output, discard, has_run, read_run, write_run
from curation.data.records import RecordRules, load_records
from curation.data.subset import read_subset
from training.batches import BatchPlan, gradient_accumulation, plan_batches
from training.callbacks import GatherShardedWeights, ThroughputMonitor
from training.config import TrainingConfig
from training.data import LlavaDataModule
from training.encode import ConversationEncoder
from training.export import export_hf
from training.finetune import prepare_model
from training.inputs import (
    TrainingInputs,
    load_training_inputs,
    resolve_inputs,
    screen_unsupervised,
)
from training.layout import (
    CHECKPOINT_DIR,
    CONFIG,
    EXPORT_DIR,
    RUN_FILES,
    RUN_KIND,
    SUMMARY,
    run_identity,
)
from training.models import DTYPES, build_model, num_image_tokens
from training.module import LlavaFinetune
from training.strategy import make_strategy
from training.tokenizer import record_texts
from training.wandb_env import wandb_env


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    export_dir: Path | None
    global_step: int
    summary: dict[str, Any]


# Lightning's banner lines (accelerator tables, product tips) drown the sweep's own progress.
logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
logging.getLogger("lightning_fabric.utilities.rank_zero").setLevel(logging.WARNING)
# A one-process run beside an installed srun is intended; the pytree deprecation is Lightning's.
warnings.filterwarnings("ignore", message=".*The `srun` command is available.*")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def train(
    cfg: TrainingConfig,
    callbacks: Sequence[pl.Callback] = (),
    force: bool = False,
    ignore: Sequence[str] = (),
) -> TrainResult:
    """Finetune per `cfg`; resumable; returns where the checkpoint and summary went.

    `callbacks` are added to the Lightning trainer (tests use one to stop a run mid-way).
    out_dir is locked for the run and holds a run of this config's identity or nothing of
    vlmdata's (layout.run_identity); `force` discards another config's run or writes into a
    folder of other files. `ignore`: names in out_dir that are not foreign (a stage's log).
    """
    if not cfg.out_dir:
        raise ConfigError("config key 'out_dir' is required: set it with out_dir=DIR")
    gradient_accumulation(cfg)  # a bad batch config fails before any data is read
    records_path, image_root, pool_path = resolve_inputs(cfg.subset, cfg.records, cfg.image_root)
    identity = run_identity(resolved_dict(cfg), _input_identity(cfg, records_path, image_root))
    key = sha256_json(identity)
    if rank_zero_only.rank != 0:  # rank 0 checks, locks and prepares the run directory
        _await_run(Path(cfg.out_dir), key)
        return _train(cfg, Path(cfg.out_dir), callbacks, resumable=True)
    inputs = {
        "the subset": cfg.subset,
        "the records": records_path,
        "the image root": image_root,
        "the subset's pool": pool_path,
    }
    with claim_output(
        cfg.out_dir,
        kind=RUN_KIND,
        owned=lambda p: has_run(p, RUN_KIND),
        force=force,
        inputs=inputs,
        ignore=ignore,
        clean=(".",),
    ) as run_dir:
        resumable = check_run(run_dir, RUN_KIND, key, identity, force)
        if not resumable:
            discard(run_dir, RUN_FILES)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run(run_dir, RUN_KIND, key, identity)  # first: the directory is this run's
        return _train(cfg, run_dir, callbacks, resumable)


# how long a rank > 0 waits for rank 0 to claim the run directory (rank 0 reads no data first)
AWAIT_RUN_S = 600.0


def _await_run(run_dir: Path, key: str) -> None:
    """Wait until rank 0 has claimed `run_dir` for this run: ranks started together (srun, the
    local executor) would otherwise write into it first, and rank 0 refuse a folder of foreign
    files, or discard another run's files under their feet."""
    deadline = time.monotonic() + AWAIT_RUN_S
    while (record := read_run(run_dir)) is None or record.get("key") != key:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"rank {rank_zero_only.rank}: rank 0 did not claim {run_dir} for this run "
                f"within {AWAIT_RUN_S:.0f} s (see rank 0's output)"
            )
        time.sleep(0.2)


def _input_identity(cfg: TrainingConfig, records_path: Path, image_root: Path) -> dict[str, Any]:
    """The training data by content where a subset records it (its files' sha256 and its
    pool's), else by path, size and modification time."""
    if cfg.subset:
        manifest = read_subset(cfg.subset).manifest
        data = {"subset": manifest.get("sha256"), "pool": manifest.get("pool", {}).get("sha256")}
    else:
        stat = records_path.stat()
        data = {
            "records": str(records_path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
    return {**data, "image_root": str(image_root.resolve())}


def _train(
    cfg: TrainingConfig, run_dir: Path, callbacks: Sequence[pl.Callback], resumable: bool
) -> TrainResult:
    if cfg.resume and resumable and (run_dir / SUMMARY).is_file():
        summary = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
        export_dir = run_dir / EXPORT_DIR
        return TrainResult(
            run_dir,
            export_dir if export_dir.is_dir() else None,
            int(summary["global_step"]),
            summary,
        )
    if rank_zero_only.rank == 0:
        save_resolved(cfg, run_dir / CONFIG)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    inputs = load_training_inputs(
        cfg.subset,
        cfg.records,
        cfg.image_root,
        cfg.loader.on_error,
        cfg.loader.verify_images,
        image_paths=cfg.loader.image_paths,
        limits=cfg.loader.limits,
    )
    model, processor = build_model(cfg.model, _tokenizer_texts(cfg, inputs), cfg.seed)
    encoder = ConversationEncoder(
        processor.tokenizer,
        num_image_tokens(processor),
        cfg.model.model_max_length,
        cfg.loader.token_stream,
    )
    inputs = screen_unsupervised(inputs, encoder, cfg.loader.on_error)
    plan = plan_batches(cfg, len(inputs.records))
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = prepare_model(model, cfg.method, cfg.lora)
    model.train()  # from_pretrained parts come in eval mode; LLaVA trains in train mode (dropout)
    datamodule = LlavaDataModule(
        inputs.records,
        inputs.image_root,
        processor,
        cfg.model.model_max_length,
        cfg.loader,
        cfg.seed,
        inputs.records_path,
        inputs.positions,
    )
    module = LlavaFinetune(model, cfg.optim, plan.total_steps)
    monitor = ThroughputMonitor()
    gather = GatherShardedWeights()  # the export's weights when the strategy shards them
    exporting = [gather] if cfg.export else []
    checkpoint_dir = run_dir / CHECKPOINT_DIR
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=make_strategy(cfg.trainer.strategy),
        precision=cfg.trainer.precision,  # type: ignore[arg-type]
        max_epochs=-1 if cfg.trainer.max_steps > 0 else cfg.trainer.epochs,
        max_steps=plan.total_steps,
        accumulate_grad_batches=plan.accumulate,
        gradient_clip_val=cfg.optim.max_grad_norm or None,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        logger=_loggers(cfg, run_dir),
        callbacks=[_checkpointing(cfg, checkpoint_dir), monitor, *exporting, *callbacks],
        enable_progress_bar=cfg.trainer.progress_bar,
        enable_model_summary=False,
        deterministic=cfg.trainer.deterministic,
        use_distributed_sampler=False,  # the datamodule shards with its resumable sampler
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )
    last = checkpoint_dir / "last.ckpt"
    ckpt_path = str(last) if cfg.resume and resumable and last.is_file() else None
    started = time.perf_counter()
    with warnings.catch_warnings():
        # the datamodule resumes mid-epoch itself (LlavaFinetune.on_load_checkpoint)
        warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    elapsed = time.perf_counter() - started
    if trainer.interrupted:
        raise KeyboardInterrupt
    counters = module.reduced_counters(trainer)
    summary = _summary(cfg, inputs, plan, trainer, module, counters, elapsed, resumed=ckpt_path)
    summary["ranks"] = _ranks(trainer, monitor)  # a collective, as the counters
    export_dir = None
    if trainer.is_global_zero:
        if cfg.export:
            export_dir = export_hf(
                module.model,
                processor,
                run_dir / EXPORT_DIR,
                dtype=_export_dtype(cfg, module.model),
                metadata={"summary": summary, "config": resolved_dict(cfg)},
                state=gather.state,
            )
        atomic_write_json(run_dir / SUMMARY, summary)  # last: marks the run finished
    _finish_wandb(trainer)
    return TrainResult(run_dir, export_dir, trainer.global_step, summary)


def _ranks(trainer: pl.Trainer, monitor: ThroughputMonitor) -> list[dict[str, Any]]:
    """Who trained in this session: each rank's host, SLURM task and batch count."""
    environment = getattr(trainer.strategy, "cluster_environment", None)
    mine = {
        "rank": trainer.global_rank,
        "host": socket.gethostname(),
        "slurm_task": os.environ.get("SLURM_PROCID"),
        # Lightning's view of the launch: SLURMEnvironment under srun (one process per task)
        "cluster_environment": type(environment).__name__ if environment else None,
        "batches_this_session": monitor.batches,
    }
    if trainer.world_size == 1 or not dist.is_initialized():
        return [mine]
    ranks: list[Any] = [None] * trainer.world_size
    dist.all_gather_object(ranks, mine)
    return ranks


def _finish_wandb(trainer: pl.Trainer) -> None:
    """Close this run's W&B run, so that the next stage in this process starts its own."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()


def _tokenizer_texts(cfg: TrainingConfig, inputs: TrainingInputs):
    """The tiny model's tokenizer learns the whole pool's texts when the subset names its pool,
    so every subset of one pool trains the same tokenizer ("vary only the data")."""
    if cfg.model.kind != "tiny":
        return ()
    if inputs.pool_path is not None and inputs.pool_path.is_file():
        rules = RecordRules(cfg.loader.image_paths, cfg.loader.limits)
        return record_texts(load_records(inputs.pool_path, on_error="skip", rules=rules).records)
    return record_texts(inputs.records)


def _checkpointing(cfg: TrainingConfig, directory: Path) -> ModelCheckpoint:
    return ModelCheckpoint(
        dirpath=directory,
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=cfg.trainer.checkpoint_every_n_steps,
        save_last=True,
        monitor="step",
        mode="max",
        save_top_k=cfg.trainer.keep_checkpoints,
    )


def _loggers(cfg: TrainingConfig, run_dir: Path) -> list[Logger]:
    # a fresh csv/version_N per session: resuming never overwrites earlier metrics
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="csv")]
    if cfg.wandb.mode != "disabled":
        wandb_env(run_dir, cfg.wandb.mode)
        loggers.append(
            WandbLogger(
                project=cfg.wandb.project,
                name=cfg.wandb.name or run_dir.name,
                group=cfg.wandb.group or None,
                job_type=cfg.wandb.job_type or None,
                tags=list(cfg.wandb.tags) or None,
                save_dir=str(run_dir),
                offline=cfg.wandb.mode == "offline",
                id=_wandb_run_id(run_dir),
                resume="allow",
                config=resolved_dict(cfg),
            )
        )
    return loggers


def _wandb_run_id(run_dir: Path) -> str:
    """One W&B run per run directory, kept across resumes."""
    path = run_dir / "wandb" / "run_id"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    import uuid

    run_id = uuid.uuid4().hex[:12]
    if rank_zero_only.rank == 0:
        atomic_write_text(path, run_id)
    return run_id


def _export_dtype(cfg: TrainingConfig, model: torch.nn.Module) -> torch.dtype | None:
    if cfg.export_dtype != "auto":
        return DTYPES[cfg.export_dtype]
    if cfg.trainer.precision.startswith("bf16"):
        return torch.bfloat16
    if cfg.trainer.precision.startswith("16"):
        return torch.float16
    return None


def _summary(
    cfg: TrainingConfig,
    inputs: TrainingInputs,
    plan: BatchPlan,
    trainer: pl.Trainer,
    module: LlavaFinetune,
    counters: dict[str, int],
    elapsed: float,
    resumed: str | None,
) -> dict[str, Any]:
    losses = module.step_losses
    session_steps = trainer.global_step - (module.resumed_at_step or 0)
    return {
        "method": cfg.method,
        "global_step": int(trainer.global_step),
        "total_steps": plan.total_steps,
        "accumulate_grad_batches": plan.accumulate,
        "world_size": plan.world_size,
        "records": {
            "read": inputs.n_read,
            "used": len(inputs.records),
            "skipped_at_load": inputs.skipped,
            "path": str(inputs.records_path),
        },
        "samples_seen": counters["samples"],
        "tokens_seen": counters["tokens"],
        "truncated": counters["truncated"],
        "skipped_at_train": counters["skipped"],
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "seconds": round(elapsed, 3),
        "steps_per_s_this_session": round(session_steps / elapsed, 4) if elapsed else None,
        "resumed_from": resumed,
    }
