"""The CLIP model behind CLIP-Score: an HF checkpoint, or a tiny one trained on the pool.

    path, fingerprint = resolve_clip("tiny", records, image_root, pool_sha256, cache_dir, recipe)
    scores = clip_scores(records, image_root, path, fingerprint, "conversation", cache_dir,
                         pool_sha256)          # (N,) float64 cosine, NaN for text-only records

clip=<HF name or directory>: e.g. openai/clip-vit-large-patch14-336, read with
local_files_only (nothing is downloaded at run time).
clip=tiny: a tiny random CLIP is meaningless, so a small CLIPModel (2+2 layers, width 64,
32 px, text length 77) and a word-level tokenizer built from the pool's texts are trained
contrastively (symmetric InfoNCE, CLIP's own loss) on the pool's own image/text pairs for
`steps` steps, and cached as an HF directory under cache_dir/clip/tiny-<key>/ (key: pool
sha256 + recipe). Scores are cached under cache_dir/clip_scores/<key>.npy (key: pool sha256,
model fingerprint, text mode), so a sweep over budgets scores once.

Images go through the model's own image processor (CLIP's resize + centre crop; no LLaVA
padding). The text of a record is its turns joined by newlines ("conversation"), or only its
answers ("answers"), `<image>` removed, truncated to the text tower's length.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from configs.errors import InputNotFoundError, UserError
from curation.data.clip_text import clip_tokenizer, padded_ids
from curation.data.fileio import atomic_directory, atomic_open, sha256_json
from curation.data.messages import IMAGE_TOKEN
from curation.features.extract import directory_sha256, torch_threads

TINY = "tiny"
TEXT_MODES = ("conversation", "answers")
CLIP_VERSION = 1


class ClipImageError(UserError, ValueError):
    """An image CLIP-Score cannot read (one line, names the record)."""


@dataclass(frozen=True)
class TinyClipRecipe:
    steps: int = 200
    batch_size: int = 64
    lr: float = 1e-3  # 2e-3 and above collapse both towers to constant embeddings
    seed: int = 0
    max_train: int = 20000  # image records held in memory for training (a seeded sample)
    text: str = "conversation"
    vocab_size: int = 2048
    width: int = 64
    layers: int = 2
    image_size: int = 32
    patch_size: int = 8
    text_length: int = 77
    # torch threads while training: fixed, so the weights do not depend on the machine's core
    # count; 1 is also the fastest for a model this small (0.19 s vs 0.92 s a step on 2 cores)
    threads: int = 1


# --- texts and images --------------------------------------------------------------------------


def record_text(record: Mapping[str, Any], mode: str) -> str:
    if mode not in TEXT_MODES:
        raise ValueError(f"CLIP text mode must be one of {'|'.join(TEXT_MODES)}, got {mode!r}")
    turns = record["conversations"]
    if mode == "answers":
        turns = [t for t in turns if t["from"] == "gpt"]
    return "\n".join(str(t["value"]).replace(IMAGE_TOKEN, "").strip() for t in turns)


def load_image(record: Mapping[str, Any], image_root: Path | None, position: int):
    from PIL import Image

    path = Path(record["image"])
    if image_root is not None and not path.is_absolute():
        path = image_root / path
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ClipImageError(
            f"record {position} (id={record.get('id')!r}): cannot read image {str(path)!r}: {exc}"
        ) from None


# --- the model -------------------------------------------------------------------------------


def resolve_clip(
    clip: str,
    records: Sequence[Mapping[str, Any]],
    image_root: Path | None,
    pool_sha256: str,
    cache_dir: Path,
    recipe: TinyClipRecipe,
    progress: bool = True,
) -> tuple[str, str]:
    """(path or hub name, fingerprint) of the CLIP model `clip` names."""
    if not clip:
        raise InputNotFoundError(
            f"params.clip is empty: give a CLIP checkpoint (directory or "
            f"cached hub name, e.g. openai/clip-vit-large-patch14-336) or "
            f"'{TINY}'"
        )
    if clip != TINY:
        path = Path(clip)
        return clip, directory_sha256(path) if path.is_dir() else f"hf:{clip}"
    key = sha256_json({"pool": pool_sha256, "recipe": asdict(recipe), "version": CLIP_VERSION})
    folder = cache_dir / "clip" / f"tiny-{key[:24]}"
    if not (folder / "training.json").is_file():
        with torch_threads(recipe.threads):
            train_tiny_clip(records, image_root, recipe, folder, progress)
    return str(folder), f"tiny:{key}"


def load_clip(name_or_path: str, device: str = "cpu") -> tuple[Any, Any, Any]:
    """(CLIPModel in eval mode, tokenizer, PIL image processor), from local files only."""
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    try:
        model = CLIPModel.from_pretrained(name_or_path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        images = AutoImageProcessor.from_pretrained(
            name_or_path, backend="pil", local_files_only=True
        )
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputNotFoundError(
            f"CLIP model {name_or_path!r} is not available offline (params.clip): {first}"
        ) from None
    return model.to(device).eval(), tokenizer, images


def build_tiny_clip(texts: Sequence[str], recipe: TinyClipRecipe) -> tuple[Any, Any, Any]:
    """An untrained tiny CLIPModel, its word-level tokenizer and its image processor."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
    )

    tokenizer = clip_tokenizer(texts, recipe.vocab_size, recipe.text_length)
    images = CLIPImageProcessorPil(
        size={"shortest_edge": recipe.image_size},
        crop_size={"height": recipe.image_size, "width": recipe.image_size},
    )
    tower = {
        "hidden_size": recipe.width,
        "intermediate_size": 2 * recipe.width,
        "num_hidden_layers": recipe.layers,
        "num_attention_heads": 4,
    }
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": recipe.text_length,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={**tower, "image_size": recipe.image_size, "patch_size": recipe.patch_size},
        projection_dim=recipe.width,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = CLIPModel(config)
    return model, tokenizer, images


def train_tiny_clip(
    records: Sequence[Mapping[str, Any]],
    image_root: Path | None,
    recipe: TinyClipRecipe,
    folder: Path,
    progress: bool = True,
) -> Path:
    """Train the tiny CLIP on the pool's image records and write it to `folder` atomically."""
    rng = np.random.default_rng(recipe.seed)
    pairs = [i for i, r in enumerate(records) if "image" in r]
    if len(pairs) < 2:
        raise ClipImageError(
            f"params.clip=tiny needs at least 2 image records to train on; "
            f"the pool has {len(pairs)}"
        )
    if len(pairs) > recipe.max_train:
        pairs = sorted(rng.choice(pairs, size=recipe.max_train, replace=False).tolist())
    texts = [record_text(records[i], recipe.text) for i in pairs]
    model, tokenizer, images = build_tiny_clip(texts, recipe)
    tokens = tokenizer(texts, truncation=True, max_length=recipe.text_length)["input_ids"]
    pixels = _pixels(records, pairs, image_root, images, progress)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.0)
    model.train()
    order: list[int] = []
    losses: list[float] = []
    with tqdm(range(recipe.steps), desc="tiny CLIP", disable=not progress) as bar:
        for _ in bar:
            if len(order) < recipe.batch_size:
                order.extend(rng.permutation(len(pairs)).tolist())
            batch, order = order[: recipe.batch_size], order[recipe.batch_size :]
            ids, mask = padded_ids([tokens[i] for i in batch])
            out = model(
                input_ids=ids, attention_mask=mask, pixel_values=pixels[batch], return_loss=True
            )
            optimiser.zero_grad()
            out.loss.backward()
            optimiser.step()
            losses.append(float(out.loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    with atomic_directory(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        images.save_pretrained(tmp)
        tail = losses[-20:]
        (tmp / "training.json").write_text(
            json.dumps(
                {
                    "recipe": asdict(recipe),
                    "pairs": len(pairs),
                    "first_loss": losses[0],
                    "final_loss": sum(tail) / len(tail),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return folder


def _pixels(
    records: Sequence[Mapping[str, Any]],
    positions: Sequence[int],
    image_root: Path | None,
    images: Any,
    progress: bool,
    chunk: int = 256,
) -> torch.Tensor:
    parts = []
    for start in tqdm(range(0, len(positions), chunk), desc="CLIP images", disable=not progress):
        batch = [load_image(records[i], image_root, i) for i in positions[start : start + chunk]]
        parts.append(images(images=batch, return_tensors="pt")["pixel_values"])
    return torch.cat(parts)


# --- scoring ---------------------------------------------------------------------------------


def clip_scores(
    records: Sequence[Mapping[str, Any]],
    image_root: Path | None,
    model_path: str,
    fingerprint: str,
    text_mode: str,
    cache_dir: Path,
    pool_sha256: str,
    *,
    batch_size: int = 64,
    device: str = "auto",
    cpu_threads: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Cosine between each record's image and text embeddings (float64; NaN: text-only).
    cpu_threads: torch threads while scoring on CPU (0: torch's default)."""
    key = sha256_json(
        {"pool": pool_sha256, "model": fingerprint, "text": text_mode, "version": CLIP_VERSION}
    )
    path = cache_dir / "clip_scores" / f"{key[:24]}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False).astype(np.float64)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch_threads(cpu_threads if device == "cpu" else 0):
        scores = _score(records, image_root, model_path, text_mode, batch_size, device, progress)
    with atomic_open(path, "wb") as handle:
        np.save(handle, scores, allow_pickle=False)
    return scores.astype(np.float64)


def _score(
    records: Sequence[Mapping[str, Any]],
    image_root: Path | None,
    model_path: str,
    text_mode: str,
    batch_size: int,
    device: str,
    progress: bool,
) -> np.ndarray:
    model, tokenizer, images = load_clip(model_path, device)
    length = min(
        int(tokenizer.model_max_length), int(model.config.text_config.max_position_embeddings)
    )
    scores = np.full(len(records), np.nan, dtype=np.float32)
    with_image = [i for i, r in enumerate(records) if "image" in r]
    for start in tqdm(
        range(0, len(with_image), batch_size), desc="CLIP-Score", disable=not progress
    ):
        batch = with_image[start : start + batch_size]
        text = tokenizer(
            [record_text(records[i], text_mode) for i in batch],
            padding=True,
            truncation=True,
            max_length=length,
            return_tensors="pt",
        ).to(device)
        pixels = images(
            images=[load_image(records[i], image_root, i) for i in batch], return_tensors="pt"
        )["pixel_values"].to(device, model.dtype)
        with torch.inference_mode():
            image_embeds = model.get_image_features(pixel_values=pixels).pooler_output
            text_embeds = model.get_text_features(
                input_ids=text["input_ids"], attention_mask=text["attention_mask"]
            ).pooler_output
        cosine = torch.nn.functional.cosine_similarity(image_embeds.float(), text_embeds.float())
        scores[batch] = cosine.cpu().numpy()
    return scores
