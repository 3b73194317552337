"""The reference LVLM a method reads: a checkpoint directory (or cached hub name).

    params.reference.model=<HF LLaVA directory or cached hub name>   e.g. TinyLLaVA-2B, HF format
    params.reference.model=tiny                                   a tiny LLaVA trained on the pool

Curation only ever loads a checkpoint. `model: tiny` asks experiments/ to train one first: the
plan's `reference` job (experiments/plan.py) trains it with the training stage and
configs/training/<training>.yaml (+ `training_overrides`), and hands its exported directory to
the method through `UsesReference.use_checkpoint`. A method that reads a reference says so by
mixing in `UsesReference`; the ones that read the shared forward pass mix in
`curation.features.reference_pass.ReadsReferencePass`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from configs.errors import InputNotFoundError
from curation.features.extract import FeaturePass, FeatureRequest, hf_reference

TINY = "tiny"
TINY_TRAINING = "reference_tiny"  # configs/training/reference_tiny.yaml: the tiny recipe


@dataclass
class ReferenceModel:
    """Which reference LVLM (the `reference` node of a method's params)."""

    # An HF LLaVA checkpoint (directory, or hub name in the local cache), or "tiny": a tiny LLaVA
    # trained on the pool by experiments/ (a job of the plan, cached and shared by every run).
    model: str = TINY
    training: str = TINY_TRAINING  # model=tiny: the recipe, configs/training/<training>.yaml
    training_overrides: list[str] = field(default_factory=list)  # e.g. [trainer.epochs=1]
    # model=tiny: the trained model's exported directory, handed over by experiments/. Not
    # annotated, so not a field: the configs, and the keys made from them, say "tiny".
    checkpoint = None

    def identity(self) -> dict[str, Any]:
        """What names the model (a tiny one: by the training config it is made with)."""
        if self.model != TINY:
            return {"model": self.model}
        return {"model": TINY, "training": self.training, "overrides": self.training_overrides}


@dataclass
class ReferencePassParams(ReferenceModel):
    """A reference and how its forward pass runs (COINCIDE's and the baselines' `reference`)."""

    layers: list[int] = field(default_factory=lambda: [0, 1])  # hooked layers, 0-based
    batch_size: int = 32
    chunk_size: int = 512
    max_length: int = 512
    dtype: str = "float32"
    device: str = "auto"
    # torch threads of the pass on CPU (0: torch's default); another count moves the last bits
    cpu_threads: int = 1


class UsesReference:
    """Mixin of a curation method that reads a reference LVLM.

    `reference_model()` is its `reference` node. With model=tiny the caller (experiments/)
    trains the model first and hands over its checkpoint with `use_checkpoint`."""

    reference_key: ClassVar[str] = "params.reference"  # where the node is, for messages

    def reference_model(self) -> ReferenceModel:
        raise NotImplementedError(f"{type(self).__name__} must implement reference_model()")

    def needs_training(self) -> bool:
        """Whether the reference is the tiny one experiments/ trains (model=tiny, no checkpoint
        handed over yet)."""
        reference = self.reference_model()
        return reference.model == TINY and not reference.checkpoint

    def use_checkpoint(self, checkpoint: str | Path) -> None:
        """The trained tiny reference (its exported HF directory)."""
        self.reference_model().checkpoint = str(checkpoint)

    def reference_checkpoint(self) -> str:
        """The checkpoint to load (a one-line error when model=tiny was handed none)."""
        return checkpoint_path(self.reference_model(), self.reference_key)


def checkpoint_path(reference: ReferenceModel, key: str = "params.reference") -> str:
    """The checkpoint `reference` names; model=tiny must have been trained and handed over."""
    if not reference.model:
        raise InputNotFoundError(
            f"{key}.model is empty: give an HF LLaVA checkpoint (directory or cached hub name), "
            f"or '{TINY}'"
        )
    if reference.model == TINY:
        if reference.checkpoint:
            return reference.checkpoint
        raise InputNotFoundError(
            f"{key}.model={TINY}: curation reads a checkpoint and was given none; the tiny "
            "reference is trained by `vlmdata curate`, `vlmdata run` or a sweep (or give its "
            "exported directory)"
        )
    return reference.model


def uses_reference(method: Any) -> bool:
    return isinstance(method, UsesReference)


@dataclass(frozen=True)
class PassSpec:
    """A reference pass as configured: which reference and what to compute. Known without
    touching the pool, so runs that ask for the same pass can share it."""

    reference: ReferenceModel
    request: FeatureRequest

    def identity(self) -> dict[str, Any]:
        return {"reference": self.reference.identity(), "request": self.request.key_fields()}

    def resolve(self) -> FeaturePass:
        """The pass with its reference loaded from the checkpoint."""
        return FeaturePass(hf_reference(checkpoint_path(self.reference)), self.request)
