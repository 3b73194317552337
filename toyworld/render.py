"""Draw a Scene as an RGB image, deterministically (PIL + numpy, no global state).

Shapes are drawn at SUPERSAMPLE x resolution into a mask and box-filtered down, so even
9 px objects keep readable, anti-aliased outlines.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from toyworld.concepts import COLOUR_RGB
from toyworld.scene import Scene

SUPERSAMPLE = 4

Box = tuple[float, float, float, float]


def _polygon(points: list[tuple[float, float]]) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def draw(canvas: ImageDraw.ImageDraw, box: Box) -> None:
        x0, y0, x1, y1 = box
        canvas.polygon([(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in points], fill=255)

    return draw


def _regular(sides: int, rotation: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (
            0.5 + 0.5 * math.cos(rotation + 2 * math.pi * i / sides),
            0.5 + 0.5 * math.sin(rotation + 2 * math.pi * i / sides),
        )
        for i in range(sides)
    ]


def _star() -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = 0.5 if i % 2 == 0 else 0.22
        angle = -math.pi / 2 + math.pi * i / 5
        points.append((0.5 + radius * math.cos(angle), 0.54 + radius * math.sin(angle)))
    return points


def _circle(canvas: ImageDraw.ImageDraw, box: Box) -> None:
    canvas.ellipse(box, fill=255)


def _ring(canvas: ImageDraw.ImageDraw, box: Box) -> None:
    canvas.ellipse(box, outline=255, width=max(1, round(0.2 * (box[2] - box[0]))))


def _heart(canvas: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    canvas.ellipse((x0, y0 + 0.05 * h, x0 + 0.54 * w, y0 + 0.55 * h), fill=255)
    canvas.ellipse((x0 + 0.46 * w, y0 + 0.05 * h, x1, y0 + 0.55 * h), fill=255)
    canvas.polygon(
        [(x0 + 0.03 * w, y0 + 0.4 * h), (x1 - 0.03 * w, y0 + 0.4 * h), (x0 + 0.5 * w, y1)], fill=255
    )


def _moon(canvas: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    canvas.ellipse(box, fill=255)
    canvas.ellipse((x0 + 0.38 * w, y0 - 0.08 * w, x1 + 0.38 * w, y1 - 0.08 * w), fill=0)


SHAPE_DRAWERS: dict[str, Callable[[ImageDraw.ImageDraw, Box], None]] = {
    "circle": _circle,
    "square": _polygon([(0.06, 0.06), (0.94, 0.06), (0.94, 0.94), (0.06, 0.94)]),
    "triangle": _polygon([(0.5, 0.02), (0.98, 0.94), (0.02, 0.94)]),
    "star": _polygon(_star()),
    "cross": _polygon(
        [
            (0.33, 0),
            (0.67, 0),
            (0.67, 0.33),
            (1, 0.33),
            (1, 0.67),
            (0.67, 0.67),
            (0.67, 1),
            (0.33, 1),
            (0.33, 0.67),
            (0, 0.67),
            (0, 0.33),
            (0.33, 0.33),
        ]
    ),
    "diamond": _polygon([(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]),
    "heart": _heart,
    "ring": _ring,
    "moon": _moon,
    "arrow": _polygon(
        [(0, 0.36), (0.5, 0.36), (0.5, 0.08), (1, 0.5), (0.5, 0.92), (0.5, 0.64), (0, 0.64)]
    ),
    "hexagon": _polygon(_regular(6, rotation=0.0)),
    "pentagon": _polygon(_regular(5)),
}


def _background(scene: Scene, side: int) -> Image.Image:
    image = np.full((side, side), scene.background_level, dtype=np.int16)
    band = np.arange(side) // (2 * SUPERSAMPLE) % 2  # 2 px bands at the output size
    if scene.texture == "stripes_h":
        image += 10 * band[:, None]
    elif scene.texture == "stripes_v":
        image += 10 * band[None, :]
    elif scene.texture == "checks":
        image += 10 * (band[:, None] ^ band[None, :])
    return Image.fromarray(np.repeat(image.astype(np.uint8)[:, :, None], 3, axis=2))


def render_scene(scene: Scene, image_size: int, noise_std: float) -> Image.Image:
    rng = np.random.default_rng(scene.render_seed)
    canvas = _background(scene, image_size * SUPERSAMPLE)
    for obj in scene.objects:
        x0, y0, x1, y1 = (v * SUPERSAMPLE for v in obj.bbox)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        SHAPE_DRAWERS[obj.shape](ImageDraw.Draw(mask), (0.0, 0.0, x1 - x0 - 1.0, y1 - y0 - 1.0))
        shade = rng.uniform(0.9, 1.05)
        colour = tuple(min(255, round(channel * shade)) for channel in COLOUR_RGB[obj.colour])
        canvas.paste(colour, (x0, y0, x1, y1), mask)
    small = np.asarray(
        canvas.resize((image_size, image_size), Image.Resampling.BOX), dtype=np.float32
    )
    if noise_std > 0:
        small = small + rng.normal(0.0, noise_std, size=small.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(small), 0, 255).astype(np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def render_png(scene: Scene, image_size: int, noise_std: float) -> bytes:
    return png_bytes(render_scene(scene, image_size, noise_std))
