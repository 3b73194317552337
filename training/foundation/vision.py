"""Stage 0, vision: a tiny CLIP pretrained on the world's captioned scenes.

The objective is CLIP's own (symmetric InfoNCE between the pooled image embedding and the
caption's embedding) plus a dense one that LLaVA's use of the tower asks for: a linear head
on every patch of the penultimate layer (the features LLaVA feeds its projector) predicts the
shape and the colour of the object centred in that patch, or "nothing". Contrastive alone
learns colours but leaves shapes near chance at this size (bench/RESULTS.md).

The whole CLIPModel (both towers, word-level tokenizer, PIL image processor) is saved, like
openai/clip-vit-large-patch14-336: LLaVA reads it as a CLIPVisionModel, the retrieval check
reads both towers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from curation.data.clip_text import clip_tokenizer, padded_ids
from toyworld.config import ToyWorldConfig
from toyworld.pretraining import CorpusItem
from toyworld.render import render_scene
from training.foundation.recipe import VisionRecipe
from training.foundation.schedule import one_cycle_adamw

NOTHING = "nothing"


def build_clip(captions: Sequence[str], image_size: int, recipe: VisionRecipe, seed: int):
    """An untrained CLIPModel, its tokenizer and its PIL image processor."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    tokenizer = clip_tokenizer(captions, recipe.text_vocab_size, recipe.text_length)
    images = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    tower = {
        "hidden_size": recipe.width,
        "intermediate_size": 4 * recipe.width,
        "num_attention_heads": recipe.heads,
    }
    config = CLIPConfig(
        text_config={
            **tower,
            "num_hidden_layers": recipe.text_layers,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": recipe.text_length,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={
            **tower,
            "num_hidden_layers": recipe.layers,
            "image_size": image_size,
            "patch_size": recipe.patch_size,
        },
        projection_dim=recipe.width,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    return model, tokenizer, images


def pixel_values(items: Sequence[CorpusItem], world: ToyWorldConfig, images: Any) -> torch.Tensor:
    parts = []
    for start in range(0, len(items), 512):
        batch = [
            render_scene(item.scene, world.image_size, world.background_noise)
            for item in items[start : start + 512]
        ]
        parts.append(images(images=batch, return_tensors="pt")["pixel_values"])
    return torch.cat(parts)


DENSE_TARGETS = ("covered", "centre")


def patch_targets(
    items: Sequence[CorpusItem], world: ToyWorldConfig, patch_size: int, mode: str = "covered"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shape, colour) class per patch, row-major; the last class of each is "nothing".

    "covered": a patch takes the object whose box covers the most of it, when that is at least
    a quarter of the patch, so every token LLaVA reads off an object names it. "centre": only
    the patch holding an object's centre names it, the object's other patches are "nothing"."""
    if mode not in DENSE_TARGETS:
        raise ValueError(f"dense targets must be one of {'|'.join(DENSE_TARGETS)}, got {mode!r}")
    grid = world.image_size // patch_size
    shapes = torch.full((len(items), grid * grid), len(world.shapes), dtype=torch.long)
    colours = torch.full((len(items), grid * grid), len(world.colours), dtype=torch.long)
    edges = np.arange(grid + 1) * patch_size
    for row, item in enumerate(items):
        best = np.full(grid * grid, patch_size * patch_size / 4 - 0.5)
        for obj in item.scene.objects:
            if mode == "centre":
                x, y = obj.centre
                cell = min(int(y) // patch_size, grid - 1) * grid + min(
                    int(x) // patch_size, grid - 1
                )
                take = torch.zeros(grid * grid, dtype=torch.bool)
                take[cell] = True
            else:
                x0, y0, x1, y1 = obj.bbox
                wide = np.clip(np.minimum(edges[1:], x1) - np.maximum(edges[:-1], x0), 0, None)
                high = np.clip(np.minimum(edges[1:], y1) - np.maximum(edges[:-1], y0), 0, None)
                cover = np.outer(high, wide).reshape(-1).astype(float)
                take = torch.from_numpy(cover > best)
                best = np.maximum(best, cover)
            shapes[row, take] = world.shapes.index(obj.shape)
            colours[row, take] = world.colours.index(obj.colour)
    return shapes, colours


class DenseHead(torch.nn.Module):
    def __init__(self, width: int, shapes: int, colours: int) -> None:
        super().__init__()
        self.shapes = shapes + 1
        self.linear = torch.nn.Linear(width, self.shapes + colours + 1)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.linear(patches)
        return logits[..., : self.shapes], logits[..., self.shapes :]


def penultimate_patches(model, pixels: torch.Tensor):
    out = model.vision_model(pixel_values=pixels, output_hidden_states=True)
    return out.pooler_output, out.hidden_states[-2][:, 1:]


def train_clip(
    items: Sequence[CorpusItem],
    world: ToyWorldConfig,
    recipe: VisionRecipe,
    seed: int,
    folder: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the tiny CLIP on `items`, save it to `folder`; returns the training record."""
    captions = [item.caption for item in items]
    model, tokenizer, images = build_clip(captions, world.image_size, recipe, seed)
    tokens = tokenizer(captions, truncation=True, max_length=recipe.text_length)["input_ids"]
    pixels = pixel_values(items, world, images)
    shape_targets, colour_targets = patch_targets(
        items, world, recipe.patch_size, recipe.dense_targets
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        head = DenseHead(recipe.width, len(world.shapes), len(world.colours))
    optimiser, schedule = one_cycle_adamw(
        [*model.parameters(), *head.parameters()], recipe.lr, recipe.steps, recipe.weight_decay
    )
    rng = np.random.default_rng(seed)
    batch_size = min(recipe.batch_size, len(items))
    losses = []
    model.train()
    for _ in tqdm(range(recipe.steps), desc="stage 0: tiny CLIP", disable=not progress):
        batch = rng.choice(len(items), size=batch_size, replace=False)
        ids, mask = padded_ids([tokens[i] for i in batch])
        pooled, patches = penultimate_patches(model, pixels[batch])
        image = F.normalize(model.visual_projection(pooled), dim=-1)
        text = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        text = F.normalize(text, dim=-1)
        logits = model.logit_scale.exp() * image @ text.T
        target = torch.arange(batch_size)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        if recipe.dense_weight > 0:
            shape_logits, colour_logits = head(patches)
            dense = F.cross_entropy(
                shape_logits.flatten(0, 1), shape_targets[batch].flatten()
            ) + F.cross_entropy(colour_logits.flatten(0, 1), colour_targets[batch].flatten())
            loss = loss + recipe.dense_weight * dense
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    images.save_pretrained(folder)
    torch.save(head.state_dict(), folder / "dense_head.pt")
    return {"first_loss": losses[0], "final_loss": float(np.mean(losses[-20:]))}


@torch.inference_mode()
def check_clip(
    folder: Path,
    items: Sequence[CorpusItem],
    world: ToyWorldConfig,
    group: int = 100,
    dense_targets: str = "covered",
) -> dict[str, float]:
    """Held-out figures of a saved tiny CLIP: caption retrieval among `group` candidates
    (chance 1/group) and dense shape / colour accuracy on the patches that name an object
    (`dense_targets`, as it was trained)."""
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

    model = CLIPModel.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    images = CLIPImageProcessorPil.from_pretrained(folder)
    pixels = pixel_values(items, world, images)
    pooled, patches = penultimate_patches(model, pixels)
    image = F.normalize(model.visual_projection(pooled), dim=-1)
    ids, mask = padded_ids(tokenizer([item.caption for item in items])["input_ids"])
    text = F.normalize(
        model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output, dim=-1
    )
    hits = []
    for start in range(0, len(items) - group + 1, group):
        block = slice(start, start + group)
        best = (image[block] @ text[block].T).argmax(dim=1)
        hits.append((best == torch.arange(group)).float())
    head = DenseHead(model.config.vision_config.hidden_size, len(world.shapes), len(world.colours))
    head.load_state_dict(torch.load(folder / "dense_head.pt", weights_only=True))
    shape_logits, colour_logits = head(patches)
    shapes, colours = patch_targets(
        items, world, model.config.vision_config.patch_size, dense_targets
    )
    occupied = shapes < len(world.shapes)
    return {
        "retrieval": float(torch.cat(hits).mean()),
        "retrieval_chance": 1.0 / group,
        "dense_shape": float((shape_logits.argmax(-1) == shapes)[occupied].float().mean()),
        "dense_colour": float((colour_logits.argmax(-1) == colours)[occupied].float().mean()),
    }
