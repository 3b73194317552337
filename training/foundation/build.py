"""Make a world's foundation models once and cache them: `build_foundation(world, recipe, dir)`.

    <dir>/clip/                 stage 0: tiny CLIPModel (LLaVA reads its vision tower)
    <dir>/language_model/       tiny LlamaForCausalLM + tokenizer: stage 1's (by default it
                                trains the LM too), else stage 0's
    <dir>/projector.safetensors stage 1: the aligned projector (LLaVA's mm_projector keys)
    <dir>/corpus/               stage 1's records: the captioned images, text-only questions,
                                grounded questions with their images
    <dir>/align/                stage 1's run (summary, metrics; checkpoints removed)
    <dir>/foundation.json       recipe, world, held-out checks, seconds per stage (written last)

Stage 2 loads the three parts through `model.kind=assemble model.foundation=<dir>`, the path
of the LLaVA-1.5-7B recipe. The directory is built in a temporary sibling and renamed into
place: a finished name always holds all of it. When the project ships the foundation of the
same key (training/foundation/shipped.py: the demo world's), its three parts and manifest are
copied instead, without corpus/ and align/.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from configs.errors import OutputExistsError
from curation.data.fileio import atomic_directory, atomic_write_json, sha256_json
from curation.data.threads import torch_threads
from toyworld.config import as_toyworld_config, validate_config
from toyworld.make import code_sha256 as toyworld_code_sha256
from toyworld.pretraining import (
    corpus_config,
    grounded_questions,
    sample_corpus,
    text_only_conversations,
)
from training.foundation.align import align_projector, initial_projector, write_caption_records
from training.foundation.caption_check import caption_accuracy, grounded_accuracy
from training.foundation.language import train_language_model
from training.foundation.recipe import as_recipe
from training.foundation.shipped import unpack_shipped
from training.foundation.vision import check_clip, train_clip

MANIFEST = "foundation.json"
CLIP_DIR, LANGUAGE_DIR, PROJECTOR_FILE = "clip", "language_model", "projector.safetensors"
STAGE0_LANGUAGE_DIR = "language_model_stage0"  # removed once stage 1 has written its own
VERSION = 2
SHIPPED_PARTS = (CLIP_DIR, LANGUAGE_DIR, PROJECTOR_FILE)


def foundation_key(world: Any, recipe: Any) -> str:
    """What the foundation models depend on: the world's corpus settings, the recipe and the
    code that makes them (toyworld's generator and this package)."""
    world, recipe = as_toyworld_config(world), as_recipe(recipe)
    return sha256_json(
        {
            "version": VERSION,
            "code": code_sha256(),
            "world": corpus_config(world),
            "recipe": recipe.as_dict(),
        }
    )


def code_sha256() -> str:
    digest = hashlib.sha256(toyworld_code_sha256().encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        if source.name == "shipped.py":  # it moves finished foundations; it makes none
            continue
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def is_built(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def build_foundation(
    world: Any,
    recipe: Any,
    folder: str | Path,
    progress: bool = True,
    ignore: Sequence[str] = (),
    use_shipped: bool = True,
    shipped_root: Path | None = None,
) -> Path:
    """Build the foundation models of `world` under `folder` and return it. A finished
    foundation of the same world and recipe there is kept; anything else in `folder` (another
    foundation, other files; names in `ignore` aside) is refused, never replaced. The
    foundation of the same key shipped under `shipped_root` (default: shipped.ROOT) is copied
    instead of built, unless `use_shipped` is false (training/foundation/shipped.py)."""
    world, recipe = as_toyworld_config(world), as_recipe(recipe)
    validate_config(world)
    folder = Path(folder)
    key = foundation_key(world, recipe)
    if is_built(folder):
        made = str(read_manifest(folder).get("key", ""))
        if made == key:
            return folder
        raise OutputExistsError(
            f"{folder} holds the foundation of another world or recipe (key {made[:12]}, this "
            f"one {key[:12]}): choose another out_dir, or remove it"
        )
    blocking = folder.exists() and (
        not folder.is_dir() or any(p.name not in ignore for p in folder.iterdir())
    )
    if blocking:
        raise OutputExistsError(
            f"{folder} exists and is not a foundation (no {MANIFEST}); refusing to replace it: "
            "choose another out_dir"
        )
    with atomic_directory(folder) as tmp:
        if not (use_shipped and unpack_shipped(key, tmp, SHIPPED_PARTS, MANIFEST, shipped_root)):
            with torch_threads(recipe.threads):
                _build(world, recipe, key, tmp, progress)
    return folder


def _build(world: Any, recipe: Any, key: str, tmp: Path, progress: bool) -> None:
    """Stages 0 and 1 into `tmp`, the manifest last."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    items = sample_corpus(world, recipe.corpus_size, "train")
    held_out = sample_corpus(world, recipe.held_out_size, "held-out")
    seconds["corpus"] = time.perf_counter() - started

    started = time.perf_counter()
    vision = train_clip(items, world, recipe.vision, recipe.seed, tmp / CLIP_DIR, progress)
    seconds["vision"] = time.perf_counter() - started

    started = time.perf_counter()
    texts = [{"conversations": item.conversations()} for item in items]
    texts += [{"conversations": c} for c in text_only_conversations(world, recipe.text_only_size)]
    language = train_language_model(
        texts, recipe.language, recipe.seed, tmp / STAGE0_LANGUAGE_DIR, progress
    )
    seconds["language"] = time.perf_counter() - started

    started = time.perf_counter()
    # the first question and answer of a scene: longer records would pad every batch
    n = recipe.align.text_conversations
    questions = [item.conversations()[:2] for item in items[:n]]
    grounded = [
        question
        for skill, count in recipe.align.grounded.items()
        for question in grounded_questions(world, skill, count)
    ]
    captions = write_caption_records(items, world, tmp / "corpus", questions, grounded)
    initial = initial_projector(
        recipe.vision.width,
        recipe.language.hidden_size,
        recipe.seed,
        tmp / "projector_init.safetensors",
    )
    align = align_projector(
        captions,
        tmp / STAGE0_LANGUAGE_DIR,
        tmp / CLIP_DIR,
        initial,
        recipe.align,
        recipe.seed,
        tmp / "align",
        tmp / PROJECTOR_FILE,
        tmp / LANGUAGE_DIR,
        progress,
    )
    if recipe.align.train_language_model:
        shutil.rmtree(tmp / STAGE0_LANGUAGE_DIR)
    else:
        (tmp / STAGE0_LANGUAGE_DIR).rename(tmp / LANGUAGE_DIR)
    shutil.rmtree(tmp / "align" / "checkpoints", ignore_errors=True)
    shutil.rmtree(tmp / "align" / "hf", ignore_errors=True)
    seconds["align"] = time.perf_counter() - started

    checks = check_clip(tmp / CLIP_DIR, held_out, world, dense_targets=recipe.vision.dense_targets)
    parts = (tmp / LANGUAGE_DIR, tmp / CLIP_DIR, tmp / PROJECTOR_FILE)
    checks["captions"] = caption_accuracy(*parts, held_out, world)
    checks["grounded"] = {
        skill: grounded_accuracy(
            *parts, grounded_questions(world, skill, recipe.held_out_size, "held-out"), world
        )
        for skill in recipe.align.grounded
    }
    atomic_write_json(
        tmp / MANIFEST,
        {
            "key": key,
            "recipe": recipe.as_dict(),
            "world": corpus_config(world),
            "vision": vision,
            "language": language,
            "align": {k: align.get(k) for k in ("global_step", "loss_first", "loss_last")},
            "checks": checks,
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
        },
    )


def read_manifest(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
