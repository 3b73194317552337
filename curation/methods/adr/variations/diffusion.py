"""Image variations for ADR Data Synthesis: a pool-trained UNet used SDEdit-style, or the
paper's Stable Diffusion image-variation pipeline.

unet_sdedit: a diffusers UNet2DModel trained on the pool's own images with x0-prediction
(prediction_type="sample": it learns recognisable small images in minutes on a CPU, epsilon
prediction does not), cached per pool; a variation partially noises the source image to
`strength` of the schedule and denoises it back with DDIM, so shapes and colours survive
while the rendering changes; a share of the candidates start from the mirrored source, so the
layout changes too. sd_image_variation: StableDiffusionImageVariationPipeline
(lambdalabs/sd-image-variations-diffusers, revision v2.0, 224 px input, guidance 3).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from configs.compose import choice
from curation.data.fileio import atomic_directory, atomic_write_json, sha256_json
from curation.methods.adr.variations.models import SynthesisError


@dataclass
class UNetConfig:
    resolution: int = 32
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = 1
    train_steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_train_images: int = 4000
    num_train_timesteps: int = 1000
    # Variations only start from partly noised images, so training draws t below this share
    # of the schedule: the capacity goes where SDEdit needs it (1.0 = the whole schedule).
    train_max_noise: float = 0.3
    # x0 = c_skip(t) * x_t / sqrt(abar_t) + c_out(t) * unet(x_t, t) (Karras et al.'s
    # preconditioning, sigma_data 0.5). Off by default: after 150 CPU steps it kept shapes
    # sharper than plain x0-prediction but let noise through (the net must learn to cancel
    # it, an epsilon-like task); plain x0-prediction gives clean, softer images.
    precondition: bool = False
    # Which images the UNet sees how often: "rebalanced" draws each image with its samples'
    # best DR pass probability (head-only images rarely, tail images always; floor 0.05), so
    # the pool's head does not wash the scarce colours and shapes out of the variations of
    # tail images; "uniform" draws every image alike.
    train_weighting: str = choice("rebalanced", ("rebalanced", "uniform"))
    # Variation: noise to `strength` of the schedule, denoise with DDIM in `inference_steps`
    # steps over the whole schedule (so about strength * inference_steps are run). A 32 px
    # object of 6-10 px survives 0.2 (shapes and colours stay recognisable); at 0.3 and above
    # stars, hearts and arrows melt into blobs (bench/RESULTS.md).
    strength: float = 0.2
    inference_steps: int = 40
    # Share of candidates started from the mirrored source: a layout change the denoiser
    # cannot undo, where a low strength alone mostly re-renders texture (the caption is made
    # from the new image, so left/right come out right).
    mirror: float = 0.5
    batch_size_generate: int = 64


@dataclass
class SDVariationConfig:
    model: str = "lambdalabs/sd-image-variations-diffusers"
    revision: str = "v2.0"
    input_size: int = 224
    guidance_scale: float = 3.0
    inference_steps: int = 50
    device: str = "cuda"
    dtype: str = "float16"
    local_files_only: bool = True


def to_tensor(images: Sequence[Image.Image], resolution: int) -> torch.Tensor:
    """RGB images -> (N, 3, R, R) in [-1, 1]."""
    arrays = [
        np.asarray(
            im.convert("RGB").resize((resolution, resolution), Image.BICUBIC), dtype=np.float32
        )
        for im in images
    ]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return batch / 127.5 - 1.0


def to_images(batch: torch.Tensor) -> list[Image.Image]:
    array = ((batch.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a) for a in array]


def _build_unet(cfg: UNetConfig) -> Any:
    from diffusers import UNet2DModel

    n = len(cfg.block_out_channels)
    return UNet2DModel(
        sample_size=cfg.resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=min(8, min(cfg.block_out_channels)),
    )


SIGMA_DATA = 0.5


def predict_x0(
    unet: Any, x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor, precondition: bool
) -> torch.Tensor:
    """The UNet's estimate of the clean image (prediction_type="sample")."""
    out = unet(x_t, t).sample
    if not precondition:
        return out
    abar = alphas_cumprod.to(x_t.device)[t].view(-1, 1, 1, 1)
    sigma2 = (1 - abar) / abar  # noise variance of x_t / sqrt(abar) = x0 + sigma * eps
    c_skip = SIGMA_DATA**2 / (sigma2 + SIGMA_DATA**2)
    c_out = sigma2.sqrt() * SIGMA_DATA / (sigma2 + SIGMA_DATA**2).sqrt()
    return c_skip * x_t / abar.sqrt() + c_out * out


def train_unet(
    images: Sequence[Image.Image],
    cfg: UNetConfig,
    seed: int,
    out_dir: Path,
    progress: bool = False,
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Train an x0-prediction UNet on the images; write it (safetensors) into out_dir.

    `weights` (one per image) make batches draw images in proportion to them.
    """
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    data = to_tensor(images, cfg.resolution)
    unet = _build_unet(cfg)
    scheduler = DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, prediction_type="sample")
    optimiser = torch.optim.AdamW(unet.parameters(), lr=cfg.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    draw = None if weights is None else torch.as_tensor(np.asarray(weights, np.float64))
    losses = []
    start = time.perf_counter()
    unet.train()
    for _ in tqdm(range(cfg.train_steps), desc="adr: train UNet", disable=not progress):
        if draw is None:
            pick = torch.randint(0, data.shape[0], (cfg.batch_size,), generator=generator)
        else:
            pick = torch.multinomial(draw, cfg.batch_size, replacement=True, generator=generator)
        x0 = data[pick]
        if torch.rand((), generator=generator) < 0.5:
            x0 = x0.flip(-1)  # horizontal flips: a cheap augmentation for small pools
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(
            0,
            max(1, int(cfg.train_max_noise * cfg.num_train_timesteps)),
            (x0.shape[0],),
            generator=generator,
        )
        predicted = predict_x0(
            unet, scheduler.add_noise(x0, noise, t), t, scheduler.alphas_cumprod, cfg.precondition
        )
        loss = torch.nn.functional.mse_loss(predicted, x0)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    info = {
        "train_images": int(data.shape[0]),
        "steps": cfg.train_steps,
        "seconds": round(time.perf_counter() - start, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last": float(np.mean(losses[-20:])) if losses else None,
    }
    with atomic_directory(out_dir) as tmp:
        unet.save_pretrained(tmp, safe_serialization=True)
        atomic_write_json(tmp / "training.json", {**info, "config": asdict(cfg), "seed": seed})
    return info


def cached_unet(
    images: Sequence[Image.Image],
    image_keys: Sequence[str],
    cfg: UNetConfig,
    seed: int,
    cache_dir: Path,
    progress: bool = False,
    weights: Sequence[float] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The trained UNet for these images, weights and settings, trained once per pool."""
    settings = {
        k: v
        for k, v in asdict(cfg).items()
        if k
        not in ("strength", "inference_steps", "batch_size_generate", "train_weighting", "mirror")
    }
    rounded = None if weights is None else [round(float(w), 6) for w in weights]
    key = sha256_json(
        {
            "config": settings,
            "seed": seed,
            "images": sha256_json(list(image_keys)),
            "weights": rounded,
        }
    )
    out_dir = Path(cache_dir) / "adr_unet" / key[:16]
    if not (out_dir / "training.json").is_file():
        train_unet(images, cfg, seed, out_dir, progress, weights)
    return out_dir, json.loads((out_dir / "training.json").read_text())


def training_subset(n: int, limit: int, seed: int) -> np.ndarray:
    """Which of n images to train on (all when n <= limit), in pool order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


class SDEditVariations:
    """Variations of source images by partial noising + DDIM denoising with the trained UNet."""

    name = "unet_sdedit"

    def __init__(self, unet_dir: Path, cfg: UNetConfig) -> None:
        from diffusers import DDIMScheduler, UNet2DModel

        self.unet = UNet2DModel.from_pretrained(unet_dir, use_safetensors=True).eval()
        self.cfg = cfg
        self.scheduler = DDIMScheduler(
            num_train_timesteps=cfg.num_train_timesteps, prediction_type="sample", clip_sample=True
        )
        self.scheduler.set_timesteps(cfg.inference_steps)
        steps = self.scheduler.timesteps
        start = int(round(cfg.strength * cfg.num_train_timesteps))
        self.timesteps = steps[steps <= start]
        if self.timesteps.numel() == 0:
            raise ValueError(f"strength {cfg.strength} leaves no denoising step")

    def __call__(
        self, sources: Sequence[Image.Image], seeds: Sequence[int], n_candidates: int
    ) -> list[list[Image.Image]]:
        """n_candidates variations per source; candidate c of source i uses seeds[i] + c."""
        x0 = self.starts(sources, seeds, n_candidates)
        noise = torch.cat(
            [
                torch.randn((1, *x0.shape[1:]), generator=torch.Generator().manual_seed(int(s) + c))
                for s in seeds
                for c in range(n_candidates)
            ]
        )
        x = self.scheduler.add_noise(x0, noise, self.timesteps[:1].repeat(x0.shape[0]))
        with torch.inference_mode():
            for t in self.timesteps:
                predicted = predict_x0(
                    self.unet,
                    x,
                    t.repeat(x.shape[0]),
                    self.scheduler.alphas_cumprod,
                    self.cfg.precondition,
                )
                x = self.scheduler.step(predicted, t, x, eta=0.0).prev_sample
        images = to_images(x)
        sizes = [im.size for im in sources for _ in range(n_candidates)]
        images = [
            im if im.size == size else im.resize(size, Image.BICUBIC)
            for im, size in zip(images, sizes, strict=True)
        ]
        return [images[i * n_candidates : (i + 1) * n_candidates] for i in range(len(sources))]

    def starts(
        self, sources: Sequence[Image.Image], seeds: Sequence[int], n_candidates: int
    ) -> torch.Tensor:
        """The clean images the candidates are noised from: each source n_candidates times,
        mirrored where `mirrored` says so."""
        x0 = to_tensor(sources, self.cfg.resolution).repeat_interleave(n_candidates, dim=0)
        flip = torch.tensor(mirrored(seeds, n_candidates, self.cfg.mirror))
        x0[flip] = x0[flip].flip(-1)
        return x0

    def targets(
        self, sources: Sequence[Image.Image], seeds: Sequence[int], n_candidates: int
    ) -> list[list[Image.Image]]:
        """What each candidate should still look like: its source, mirrored when it started
        from the mirror image (the best-of-N filter compares with these)."""
        flips = iter(mirrored(seeds, n_candidates, self.cfg.mirror))
        return [
            [
                source.transpose(Image.FLIP_LEFT_RIGHT) if next(flips) else source
                for _ in range(n_candidates)
            ]
            for source in sources
        ]


def mirrored(seeds: Sequence[int], n_candidates: int, share: float) -> list[bool]:
    """Which candidates start from the mirrored source: candidate c of seed s is mirrored with
    probability `share`, drawn from (s, c) alone."""
    return [
        bool(np.random.default_rng([int(s), c, 0x6D]).random() < share)
        for s in seeds
        for c in range(n_candidates)
    ]


class SDImageVariations:
    """The paper's generator: Stable Diffusion image variations (needs the weights)."""

    name = "sd_image_variation"

    def __init__(self, cfg: SDVariationConfig) -> None:
        from diffusers import StableDiffusionImageVariationPipeline

        self.cfg = cfg
        try:
            self.pipe = StableDiffusionImageVariationPipeline.from_pretrained(
                cfg.model,
                revision=cfg.revision or None,
                dtype=getattr(torch, cfg.dtype),
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=cfg.local_files_only,
            ).to(cfg.device)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SynthesisError(
                f"params.synthesis.sd.model={cfg.model!r} cannot be loaded: {first}"
            ) from None
        self.pipe.set_progress_bar_config(disable=True)

    def __call__(
        self, sources: Sequence[Image.Image], seeds: Sequence[int], n_candidates: int
    ) -> list[list[Image.Image]]:
        out = []
        for source, seed in zip(sources, seeds, strict=True):
            image = source.convert("RGB").resize((self.cfg.input_size,) * 2, Image.BICUBIC)
            generator = torch.Generator(device="cpu").manual_seed(int(seed))
            result = self.pipe(
                image=image,
                guidance_scale=self.cfg.guidance_scale,
                num_images_per_prompt=n_candidates,
                generator=generator,
                num_inference_steps=self.cfg.inference_steps,
            )
            out.append(list(result.images))
        return out

    def targets(
        self, sources: Sequence[Image.Image], seeds: Sequence[int], n_candidates: int
    ) -> list[list[Image.Image]]:
        return [[source] * n_candidates for source in sources]


def grid(
    pairs: Sequence[tuple[Image.Image, Image.Image]], scale: int = 4, columns: int = 4
) -> Image.Image:
    """source | variation pairs side by side, `columns` pairs per row, upscaled."""
    if not pairs:
        return Image.new("RGB", (1, 1))
    w, h = pairs[0][0].size
    cell_w, cell_h, gap = w * scale, h * scale, max(2, scale)
    rows = math.ceil(len(pairs) / columns)
    canvas = Image.new(
        "RGB", (columns * (2 * cell_w + 3 * gap), rows * (cell_h + gap) + gap), (255, 255, 255)
    )
    for k, (source, variation) in enumerate(pairs):
        r, c = divmod(k, columns)
        x, y = c * (2 * cell_w + 3 * gap) + gap, r * (cell_h + gap) + gap
        canvas.paste(source.resize((cell_w, cell_h), Image.NEAREST), (x, y))
        canvas.paste(variation.resize((cell_w, cell_h), Image.NEAREST), (x + cell_w, y))
    return canvas
