"""Stage 1: LLaVA's projector alignment (LCS-558K) on the world's captions.

The same training code as every other run (training.train, model.kind=assemble): the
language model and the CLIP tower of stage 0 with a freshly initialised mlp2x_gelu projector,
trained to caption the corpus' images, the vision tower frozen. recipe.train_language_model
picks method=full (the LM trains too; the default, see recipe.py for why) or
method=projector (LLaVA-1.5's stage 1). The projector is written as LLaVA's `mm_projector`
keys (model.projector); a trained LM as a LlamaForCausalLM directory (model.language_model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from curation.data.records import write_records
from toyworld.config import ToyWorldConfig
from toyworld.pool import PoolSample, Turn
from toyworld.pretraining import CorpusItem
from toyworld.render import render_png
from toyworld.scene import Scene
from training.config import TrainingConfig
from training.foundation.recipe import AlignRecipe
from training.models import PROJECTOR_KEYS

CAPTION_PROMPT = "Give a short caption for this image."
_TO_LLAVA = {hf: llava for llava, hf in PROJECTOR_KEYS.items()}


def write_caption_records(
    items: list[CorpusItem],
    world: ToyWorldConfig,
    folder: Path,
    conversations: Sequence[list[dict[str, str]]] = (),
    grounded: Sequence[tuple[Scene, Turn]] = (),
) -> Path:
    """Stage 1's records under `folder`: the corpus as LLaVA caption records with their images,
    then `conversations` as text-only records, then each `grounded` question with the image of
    its scene."""
    (folder / "images").mkdir(parents=True)
    records = []
    for number, item in enumerate(items):
        name = f"images/pt-{number:06d}.png"
        (folder / name).write_bytes(
            render_png(item.scene, world.image_size, world.background_noise)
        )
        records.append(
            {
                "id": f"pt-{number:06d}",
                "image": name,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{CAPTION_PROMPT}"},
                    {"from": "gpt", "value": item.caption},
                ],
            }
        )
    for number, turns in enumerate(conversations):
        records.append({"id": f"qa-{number:06d}", "conversations": list(turns)})
    for number, (scene, turn) in enumerate(grounded):
        name = f"images/gq-{number:06d}.png"
        (folder / name).write_bytes(render_png(scene, world.image_size, world.background_noise))
        turns = PoolSample(scene=scene, turns=(turn,)).conversations()
        records.append({"id": f"gq-{number:06d}", "image": name, "conversations": turns})
    path = folder / "captions.json"
    write_records(path, records)
    return path


def save_projector(projector: torch.nn.Module, path: Path) -> Path:
    """A LlavaMultiModalProjector's weights under LLaVA's mm_projector keys (safetensors)."""
    state = {
        f"model.{_TO_LLAVA[key]}": value.detach().contiguous().clone()
        for key, value in projector.state_dict().items()
    }
    save_file(state, str(path))
    return path


def initial_projector(vision_width: int, text_width: int, seed: int, path: Path) -> Path:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=vision_width, num_attention_heads=1),
        text_config=LlamaConfig(hidden_size=text_width, num_attention_heads=1),
        projector_hidden_act="gelu",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        projector = LlavaMultiModalProjector(config)
    return save_projector(projector, path)


def align_projector(
    captions: Path,
    language_model: Path,
    clip: Path,
    initial: Path,
    recipe: AlignRecipe,
    seed: int,
    run_dir: Path,
    out: Path,
    language_out: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on `captions`; write the projector to `out` and, when recipe.train_language_model,
    the trained LM to `language_out`; the run's summary."""
    from omegaconf import OmegaConf

    from training.train import train

    cfg = OmegaConf.structured(TrainingConfig)
    cfg.merge_with(
        {
            "method": "full" if recipe.train_language_model else "projector",
            "records": str(captions),
            "image_root": str(captions.parent),
            "out_dir": str(run_dir),
            "seed": seed,
            "export": True,
            "model": {
                "kind": "assemble",
                "language_model": str(language_model),
                "vision_tower": str(clip),
                "projector": str(initial),
                "model_max_length": 512,
            },
            "optim": {"lr": recipe.lr, "warmup_ratio": 0.03},
            "loader": {"per_device_batch_size": recipe.batch_size, "verify_images": False},
            "trainer": {
                "accelerator": "cpu",
                "global_batch_size": recipe.batch_size,
                "epochs": recipe.epochs,
                "checkpoint_every_n_steps": 10**6,
                "progress_bar": progress,
            },
            "wandb": {"mode": "disabled"},
        }
    )
    result = train(OmegaConf.to_object(cfg))
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    aligned = LlavaForConditionalGeneration.from_pretrained(result.export_dir)
    save_projector(aligned.model.multi_modal_projector, out)
    if recipe.train_language_model:
        tokenizer = AutoProcessor.from_pretrained(result.export_dir).tokenizer
        save_language_model(aligned, tokenizer, language_out)
    return result.summary


def save_language_model(model: Any, tokenizer: Any, folder: Path) -> Path:
    """A LLaVA model's language model as a LlamaForCausalLM directory, with the tokenizer
    (which already holds `<image>`; the embedding rows are the padded ones stage 1 trained)."""
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        lm = LlamaForCausalLM(model.config.text_config)
    lm.model = model.model.language_model
    lm.lm_head = model.lm_head
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
