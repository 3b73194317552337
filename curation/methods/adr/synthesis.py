"""ADR: Data Rebalancing, then Data Synthesis refills the subset (curation/methods/adr/README.md).

For each drawn tail candidate: N image variations (pool-trained UNet SDEdit-style, or Stable
Diffusion image variations), keep the one most similar to its source (mirrored, for a
candidate started from the mirror image) under the image embedder (the reference LVLM's
vision tower, or CLIP), caption it with the reference LVLM,
turn the caption into a LLaVA conversation (template, or an instruction LLM).

Synthetic images are PNG files under the run's work directory, `<out_dir>.work/synthetic/
<key>/images/`, next to the subset directory; records name them by absolute path, which
resolves under any image root (pathlib and LLaVA's os.path.join both keep an absolute
second part). Finished samples are kept there, so an interrupted run resumes. Provenance per
sample (source id, generator, seed, similarities, pixel change) goes to the manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from configs.compose import choice
from curation.data.fileio import atomic_open, atomic_write_json, sha256_json
from curation.data.records import RecordRules, validate_record
from curation.features.reference import (
    TINY,
    TINY_TRAINING,
    ReferenceModel,
    UsesReference,
    checkpoint_path,
)
from curation.method import CurationContext, CurationMethod, Selection
from curation.methods.adr.entities.extract import EntityConfig
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.rebalance import AdrRebalance, RebalanceParams, pass_probability
from curation.methods.adr.variations.candidates import draw_sources, tail_candidates
from curation.methods.adr.variations.captions import ConversationWriter
from curation.methods.adr.variations.diffusion import (
    SDEditVariations,
    SDImageVariations,
    SDVariationConfig,
    UNetConfig,
    cached_unet,
    grid,
    training_subset,
)
from curation.methods.adr.variations.models import (
    ClipEmbedder,
    ReferenceLVLM,
    SynthesisError,
    best_of,
)


@dataclass
class SynthesisParams:
    count: int = -1  # synthetic samples; -1: refill to the pool's size (pool - DR size)
    n_candidates: int = 2  # variations per source; the most similar one is kept
    generator: str = choice("unet_sdedit", ("unet_sdedit", "sd_image_variation"))
    unet: UNetConfig = field(default_factory=UNetConfig)
    sd: SDVariationConfig = field(default_factory=SDVariationConfig)
    # The reference LVLM (captioner; image embedder with embedder=reference): model is an HF
    # LLaVA directory or hub name, or "tiny": a tiny LLaVA trained on the pool by experiments/
    # (ToyWorld scale), the same cached model as COINCIDE's with the same training config.
    reference: ReferenceModel = field(default_factory=ReferenceModel)
    embedder: str = choice("reference", ("reference", "clip"))
    clip_model: str = "openai/clip-vit-large-patch14-336"
    caption_prompt: str = "Please describe the image in detail."
    caption_max_new_tokens: int = 512
    writer: str = choice("template", ("template", "llm"))  # llm: entities.llm's model
    device: str = "cpu"
    local_files_only: bool = True  # never reach the hub at run time
    batch_size: int = 32
    grid_pairs: int = 32  # source | variation pairs drawn into grid.png


@dataclass
class AdrParams:
    rebalance: RebalanceParams = field(default_factory=RebalanceParams)
    synthesis: SynthesisParams = field(default_factory=SynthesisParams)


@dataclass
class _Item:
    k: int
    source: int  # index into ctx.records
    repeat: int
    seed: int

    @property
    def id(self) -> str:
        return f"adr-syn-{self.k:06d}"


class Adr(UsesReference, CurationMethod):
    """DR, then DS up to the pool's size (or `synthesis.count` new samples)."""

    name = "adr"
    Params = AdrParams
    needs_budget = False
    sizes_itself = (
        "Data Rebalancing sets the size, then synthesis refills the pool's size or "
        "params.synthesis.count; method=adr_dr takes a budget"
    )
    reference_key = "params.synthesis.reference"

    def reference_model(self) -> ReferenceModel:
        return self.params.synthesis.reference

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        params: AdrParams = self.params
        selection, tables = AdrRebalance(params.rebalance).rebalance(ctx)
        taus = {k: v["tau"] for k, v in selection.details["rebalance"]["perspectives"].items()}
        count = params.synthesis.count
        if count < 0:
            count = len(ctx) - len(selection.indices)
        records, details = synthesise(
            ctx, tables, taus, count, params.synthesis, params.rebalance.entities, selection.indices
        )
        selection.synthetic_records = records
        selection.details["synthesis"] = details
        return selection


def synthesise(
    ctx: CurationContext,
    tables: Mapping[str, EntityTable],
    taus: Mapping[str, int],
    count: int,
    params: SynthesisParams,
    entities: EntityConfig,
    kept: np.ndarray,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    timings: dict[str, float] = {}
    candidates = tail_candidates(ctx.records, tables, taus)
    try:
        drawn = draw_sources(candidates, count, ctx.seed)
    except ValueError as err:
        raise SynthesisError(str(err)) from None
    items = [
        _Item(k, source, repeat, _seed(ctx.seed, source, repeat))
        for k, (source, repeat) in enumerate(drawn)
    ]
    key = sha256_json(
        {
            "params": _key_params(params),
            "seed": ctx.seed,
            "pool": ctx.pool_sha256,
            "sources": drawn,
            "kept": sha256_json(kept.tolist()),
        }
    )
    work = Path(ctx.run_dir) / "synthetic" / key[:12]
    done = {item.id: _load_done(work, item) for item in items}
    pending = [item for item in items if done[item.id] is None]

    info: dict[str, Any] = {}
    if pending:
        start = time.perf_counter()
        reference = _reference(params)
        generate, info = _generator(ctx, params, image_weights(tables, taus))
        embed = (
            reference.embed
            if params.embedder == "reference"
            else ClipEmbedder(params.clip_model, params.device, params.local_files_only).embed
        )
        writer = _writer(params, entities)
        timings["load_models"] = time.perf_counter() - start - info.get("unet_train_s", 0.0)
        _run(ctx, params, pending, work, generate, embed, reference, writer, timings)
        info["writer_fallbacks"] = writer.fallbacks
        done = {item.id: _load_done(work, item) for item in items}
    results = [done[item.id] for item in items]
    if any(r is None for r in results):
        raise SynthesisError(f"{work}: some synthetic samples were not written")
    records = [r["record"] for r in results]  # type: ignore[index]
    provenance = [r["provenance"] for r in results]  # type: ignore[index]
    grid_path = work / "grid.png"
    _write_grid(ctx, records[: params.grid_pairs], provenance, grid_path)
    details = {
        "count": len(records),
        "candidates": int(candidates.size),
        "work_dir": str(work),
        "images_dir": str(work / "images"),
        "grid": str(grid_path),
        "generator": params.generator,
        "embedder": params.embedder,
        "reference": checkpoint_path(params.reference, "params.synthesis.reference"),
        "writer": params.writer,
        "resumed": len(items) - len(pending),
        "timings_s": timings,
        **info,
        "samples": provenance,
    }
    return records, details


MIN_TRAIN_WEIGHT = 0.05


VISUAL_PERSPECTIVES = ("object", "co_occurrence")


def image_weights(tables: Mapping[str, EntityTable], taus: Mapping[str, int]) -> np.ndarray:
    """Per sample: its highest DR pass probability over the visual perspectives (all
    perspectives when none of them was extracted): how scarce its image's content is."""
    chosen = [k for k in tables if k in VISUAL_PERSPECTIVES] or list(tables)
    return np.max(np.column_stack([pass_probability(tables[k], taus[k]) for k in chosen]), axis=1)


def _seed(seed: int, source: int, repeat: int) -> int:
    return int(np.random.SeedSequence([seed, source, repeat]).generate_state(1)[0])


def _reference(params: SynthesisParams) -> ReferenceLVLM:
    name = checkpoint_path(params.reference, "params.synthesis.reference")
    return ReferenceLVLM(name, params.device, params.local_files_only, params.batch_size)


# The tiny reference's recipe as SynthesisParams held it before it became a training config
# (configs/training/reference_tiny.yaml): the synthetic work folder is keyed by these fields,
# so finished samples, and the paths the subset names them by, stay where they were.
_LEGACY_TINY = {
    "trainer.epochs": ("reference_epochs", 6),
    "optim.lr": ("reference_lr", 3e-3),
    "loader.per_device_batch_size": ("reference_batch_size", 16),
    "model.model_max_length": ("reference_max_length", 512),
    "seed": ("reference_seed", 0),
}


def _key_params(params: SynthesisParams) -> dict[str, Any]:
    """`params` for the work folder's key: the reference as the flat fields it once was (the
    tiny one's recipe from its overrides), unless its training config is another one."""
    fields = asdict(params)
    reference = fields.pop("reference")
    flat = {name: default for name, default in _LEGACY_TINY.values()}
    flat["reference"] = reference["model"]
    if reference["model"] == TINY and reference["training"] != TINY_TRAINING:
        flat["reference"] = {k: reference[k] for k in ("model", "training")}
    for override in reference["training_overrides"]:
        key, _, value = override.partition("=")
        if key.strip() in _LEGACY_TINY:
            flat[_LEGACY_TINY[key.strip()][0]] = yaml.safe_load(value)
        else:
            flat.setdefault("reference_overrides", []).append(override)
    return {**fields, **flat}


def _generator(
    ctx: CurationContext, params: SynthesisParams, weights: np.ndarray
) -> tuple[Any, dict[str, Any]]:
    if params.generator == "sd_image_variation":
        return SDImageVariations(params.sd), {}
    start = time.perf_counter()
    per_image: dict[str, float] = {}
    for record, weight in zip(ctx.records, weights.tolist(), strict=True):
        if "image" in record:
            per_image[record["image"]] = max(weight, per_image.get(record["image"], 0.0))
    names = sorted(per_image)
    chosen = [names[i] for i in training_subset(len(names), params.unet.max_train_images, 0)]
    image_weights = None
    if params.unet.train_weighting == "rebalanced":
        image_weights = [max(MIN_TRAIN_WEIGHT, per_image[name]) for name in chosen]
    unet_dir, training = cached_unet(
        _LazyImages(ctx, chosen),
        chosen,
        params.unet,
        ctx.seed,
        ctx.cache_dir,
        ctx.progress,
        image_weights,
    )
    info = {
        "unet_dir": str(unet_dir),
        "unet_training": training,
        "unet_train_s": time.perf_counter() - start,
    }
    return SDEditVariations(unet_dir, params.unet), info


class _LazyImages(Sequence):
    """Pool images opened on first access (training loads them all once, as RGB)."""

    def __init__(self, ctx: CurationContext, names: list[str]) -> None:
        self.ctx, self.names = ctx, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return _open(self.ctx, self.names[i])


def _open(ctx: CurationContext, image: str) -> Image.Image:
    root = ctx.image_root or Path(ctx.pool_path).parent
    with Image.open(Path(root) / image) as img:
        return img.convert("RGB")


def _writer(params: SynthesisParams, entities: EntityConfig) -> ConversationWriter:
    if params.writer == "llm":
        from curation.methods.adr.entities.models import TransformersChat

        return ConversationWriter("llm", TransformersChat(entities.llm).complete)
    return ConversationWriter("template")


def _run(
    ctx: CurationContext,
    params: SynthesisParams,
    pending: list[_Item],
    work: Path,
    generate: Any,
    embed: Any,
    reference: ReferenceLVLM,
    writer: ConversationWriter,
    timings: dict[str, float],
) -> None:
    images_dir = work / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for name in ("generate", "embed", "caption", "write"):
        timings.setdefault(name, 0.0)
    bar = tqdm(
        total=len(pending), desc="adr: synthesise", unit=" samples", disable=not ctx.progress
    )
    for start in range(0, len(pending), params.batch_size):
        batch = pending[start : start + params.batch_size]
        sources = [_open(ctx, ctx.records[item.source]["image"]) for item in batch]
        clock = time.perf_counter()
        variations = generate(sources, [item.seed for item in batch], params.n_candidates)
        timings["generate"] += time.perf_counter() - clock

        clock = time.perf_counter()
        targets = generate.targets(sources, [item.seed for item in batch], params.n_candidates)
        target_emb = embed([im for group in targets for im in group])
        candidate_emb = embed([im for group in variations for im in group])
        chosen, similarities = [], []
        for i, group in enumerate(variations):
            rows = slice(i * len(group), (i + 1) * len(group))
            best, sims = best_of(target_emb[rows], candidate_emb[rows])
            chosen.append(group[best])
            similarities.append(sims)
        timings["embed"] += time.perf_counter() - clock

        clock = time.perf_counter()
        captions = reference.caption(chosen, params.caption_prompt, params.caption_max_new_tokens)
        timings["caption"] += time.perf_counter() - clock

        clock = time.perf_counter()
        conversations = writer(captions, [item.seed for item in batch])
        for i, item in enumerate(batch):
            _save(
                ctx,
                params,
                work,
                item,
                sources[i],
                chosen[i],
                similarities[i],
                captions[i],
                conversations[i],
            )
        timings["write"] += time.perf_counter() - clock
        bar.update(len(batch))
    bar.close()


def _save(
    ctx: CurationContext,
    params: SynthesisParams,
    work: Path,
    item: _Item,
    source: Image.Image,
    image: Image.Image,
    similarities: np.ndarray,
    caption: str,
    conversation: list[dict[str, Any]],
) -> None:
    path = (work / "images" / f"{item.id}.png").resolve()
    with atomic_open(path, "wb") as handle:
        image.save(handle, format="PNG")
    source_record = ctx.records[item.source]
    record = {"id": item.id, "image": str(path), "conversations": conversation}
    # named by absolute path inside the work folder beside the subset, which training admits
    problems = validate_record(
        record, image_root=path.parent, rules=RecordRules(own_image_dirs=(str(ctx.run_dir),))
    )
    if problems:
        raise SynthesisError(
            f"synthetic record {item.id} is not valid LLaVA: "
            f"{problems[0].reason}: {problems[0].detail}"
        )
    change = float(
        np.abs(
            np.asarray(image, np.float32) - np.asarray(source.resize(image.size), np.float32)
        ).mean()
    )
    provenance = {
        "id": item.id,
        "source_id": source_record["id"],
        "source_index": item.source,
        "source_image": source_record["image"],
        "repeat": item.repeat,
        "generator": params.generator,
        "seed": item.seed,
        "similarity": float(similarities.max()),
        "candidate_similarities": [round(float(s), 6) for s in similarities],
        "pixel_change": round(change, 4),
        "caption_chars": len(caption),
    }
    atomic_write_json(work / f"{item.id}.json", {"record": record, "provenance": provenance})


def _load_done(work: Path, item: _Item) -> dict[str, Any] | None:
    path = work / f"{item.id}.json"
    if not path.is_file():
        return None
    done = json.loads(path.read_text(encoding="utf-8"))
    image = Path(done["record"]["image"])
    if done["provenance"]["seed"] != item.seed or not image.is_file():
        return None
    return done


def _write_grid(
    ctx: CurationContext,
    records: Sequence[Mapping[str, Any]],
    provenance: Sequence[Mapping[str, Any]],
    path: Path,
) -> None:
    pairs = []
    for record, origin in zip(records, provenance, strict=False):
        with Image.open(record["image"]) as img:
            pairs.append((_open(ctx, origin["source_image"]), img.convert("RGB")))
    with atomic_open(path, "wb") as handle:
        grid(pairs).save(handle, format="PNG")
