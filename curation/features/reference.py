"""The reference LVLM whose activations COINCIDE clusters: a checkpoint, or one trained here.

    reference=<HF LLaVA directory or cached hub name>   e.g. a TinyLLaVA-2B converted to HF
    reference=tiny                                       train a tiny LLaVA on the pool itself

The tiny reference is trained with the training stage's public `train()` (full finetuning of
`training.models.build_tiny_llava`) and cached under `<cache_dir>/reference/<key>/`, keyed
by the pool's sha256 and the training knobs below; a killed training resumes. This is the
one place curation calls into training, and only when asked for reference=tiny.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.data.fileio import sha256_json
from curation.features.extract import (
    FeaturePass,
    FeatureRequest,
    Reference,
    hf_reference,
    torch_threads,
)

if TYPE_CHECKING:
    from curation.method import CurationContext

TRAIN_TINY = "tiny"


@dataclass(frozen=True)
class TinyReferenceRecipe:
    epochs: int = 6
    lr: float = 3e-3
    batch_size: int = 16
    max_length: int = 512
    seed: int = 0
    # torch threads while training: a ~150K-parameter model gains nothing from more, and on a
    # busy 2-core machine 2 threads made each step 11x slower (2.2 s vs 0.19 s at batch 16)
    threads: int = 1


@dataclass(frozen=True)
class PassSpec:
    """A reference pass as configured: which reference (trained how, if tiny) and what to
    compute. Known without touching the pool, so runs that ask for the same pass can share it."""

    reference: str
    recipe: TinyReferenceRecipe
    request: FeatureRequest

    def identity(self) -> dict[str, Any]:
        tiny = self.reference == TRAIN_TINY
        return {
            "reference": self.reference,
            "recipe": asdict(self.recipe) if tiny else None,
            "request": self.request.key_fields(),
        }

    def resolve(self, ctx: CurationContext) -> FeaturePass:
        """The reference model (the tiny one trained and cached if needed) and the request."""
        reference = resolve_reference(
            self.reference,
            pool_path=ctx.pool_path,
            image_root=ctx.image_root,
            pool_sha256=ctx.pool_sha256,
            cache_dir=ctx.cache_dir,
            recipe=self.recipe,
            progress=ctx.progress,
        )
        return FeaturePass(reference, self.request)


def resolve_reference(
    reference: str,
    *,
    pool_path: Path,
    image_root: Path | None,
    pool_sha256: str,
    cache_dir: Path,
    recipe: TinyReferenceRecipe,
    progress: bool = True,
) -> Reference:
    if not reference:
        raise FileNotFoundError(
            "params.reference is empty: give an HF LLaVA checkpoint "
            f"(directory or cached hub name), or '{TRAIN_TINY}'"
        )
    if reference != TRAIN_TINY:
        return hf_reference(reference)
    return hf_reference(
        train_tiny_reference(pool_path, image_root, pool_sha256, cache_dir, recipe, progress)
    )


def train_tiny_reference(
    pool_path: Path,
    image_root: Path | None,
    pool_sha256: str,
    cache_dir: Path,
    recipe: TinyReferenceRecipe,
    progress: bool = True,
) -> Path:
    """Train (or find) a tiny LLaVA on the whole pool; returns its exported HF directory."""
    key = sha256_json({"pool": pool_sha256, "recipe": recipe.__dict__, "version": 1})[:24]
    run_dir = cache_dir / "reference" / f"tiny-{key}"
    from training.layout import finished_export  # light: a cached reference needs no Lightning

    cached = finished_export(run_dir)
    if cached is not None:
        return cached
    from training.config import TrainingConfig
    from training.train import train

    cfg = TrainingConfig(
        method="full",
        out_dir=str(run_dir),
        records=str(pool_path),
        image_root=str(image_root or pool_path.parent),
        seed=recipe.seed,
    )
    cfg.model.kind = "tiny"
    cfg.model.model_max_length = recipe.max_length
    cfg.optim.lr = recipe.lr
    cfg.loader.per_device_batch_size = recipe.batch_size
    cfg.trainer.global_batch_size = recipe.batch_size
    cfg.trainer.epochs = recipe.epochs
    cfg.trainer.devices = 1
    cfg.trainer.progress_bar = progress
    cfg.wandb.mode = "disabled"
    with torch_threads(recipe.threads):
        result = train(cfg)
    if result.export_dir is None:
        raise RuntimeError(f"training the tiny reference in {run_dir} exported no checkpoint")
    return result.export_dir
