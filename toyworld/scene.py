"""Scenes: what is in an image and where, before any pixel is drawn."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

TEXTURES = ("plain", "stripes_h", "stripes_v", "checks")
_GAP_PX = 1  # empty pixels kept between objects and around the border
_SPATIAL_MIN_OFFSET_PX = 4  # centre offset below which "left of" is not asked
_SPATIAL_DOMINANCE = 1.5  # the main axis must beat the other by this factor


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str  # "small" | "large"
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 pixel edges (x1, y1 exclusive)

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        return (x0 + x1) / 2, (y0 + y1) / 2

    def annotation(self) -> dict:
        return {
            "shape": self.shape,
            "colour": self.colour,
            "size": self.size,
            "bbox": list(self.bbox),
        }


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background_level: int  # grey level of the background, 0-255
    texture: str  # one of TEXTURES
    render_seed: int  # noise and shading of this rendering

    @property
    def names(self) -> list[str]:
        """Distinct object entities, in order of first appearance."""
        return list(dict.fromkeys(obj.name for obj in self.objects))


def object_side_px(size: str, image_size: int, small_fraction: float, large_fraction: float) -> int:
    return max(4, round(image_size * (large_fraction if size == "large" else small_fraction)))


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (
        a[2] + _GAP_PX <= b[0]
        or b[2] + _GAP_PX <= a[0]
        or a[3] + _GAP_PX <= b[1]
        or b[3] + _GAP_PX <= a[1]
    )


def lay_out(
    specs: list[tuple[str, str, str]],
    image_size: int,
    side_px: dict[str, int],
    rng: np.random.Generator,
    tries_per_object: int = 40,
) -> tuple[SceneObject, ...] | None:
    """Place (shape, colour, size) objects without overlap; None when they do not fit."""
    placed: list[SceneObject] = []
    for shape, colour, size in specs:
        side = side_px[size]
        high = image_size - side - _GAP_PX + 1
        for x0, y0 in rng.integers(_GAP_PX, high, size=(tries_per_object, 2)).tolist():
            bbox = (x0, y0, x0 + side, y0 + side)
            if not any(_overlaps(bbox, other.bbox) for other in placed):
                placed.append(SceneObject(shape, colour, size, bbox))
                break
        else:
            return None
    return tuple(placed)


def lay_out_in_quadrants(
    specs: list[tuple[str, str, str]],
    image_size: int,
    side_px: dict[str, int],
    rng: np.random.Generator,
) -> tuple[SceneObject, ...]:
    """One object per quadrant, at a random offset inside it: always fits up to 4 objects
    (an object too large for a quadrant becomes small)."""
    cell = image_size // 2
    placed = []
    for (shape, colour, size), quadrant in zip(specs, rng.permutation(4).tolist(), strict=False):
        if side_px[size] > cell - 2 * _GAP_PX:
            size = "small"
        side = side_px[size]
        left, top = (quadrant % 2) * cell, (quadrant // 2) * cell
        x0 = left + int(rng.integers(_GAP_PX, cell - side - _GAP_PX + 1))
        y0 = top + int(rng.integers(_GAP_PX, cell - side - _GAP_PX + 1))
        placed.append(SceneObject(shape, colour, size, (x0, y0, x0 + side, y0 + side)))
    return tuple(placed)


def lay_out_anywhere(
    specs: list[tuple[str, str, str]],
    image_size: int,
    side_px: dict[str, int],
    rng: np.random.Generator,
) -> tuple[SceneObject, ...]:
    """lay_out, retried; crowded scenes that keep failing fall back to quadrants."""
    for _ in range(6):
        objects = lay_out(specs, image_size, side_px, rng)
        if objects is not None:
            return objects
    return lay_out_in_quadrants(specs, image_size, side_px, rng)


def sample_background(rng: np.random.Generator, texture_fraction: float) -> tuple[int, str, int]:
    level = int(rng.integers(12, 64))
    texture = (
        TEXTURES[0]
        if rng.random() >= texture_fraction
        else TEXTURES[int(rng.integers(1, len(TEXTURES)))]
    )
    return level, texture, int(rng.integers(2**62))


def shifted(scene: Scene, max_shift: int, rng: np.random.Generator, image_size: int) -> Scene:
    """The same scene moved as a whole by up to max_shift px (relations are unchanged),
    rendered with fresh noise: a near-duplicate."""
    x_lo = -min(obj.bbox[0] for obj in scene.objects)
    x_hi = image_size - max(obj.bbox[2] for obj in scene.objects)
    y_lo = -min(obj.bbox[1] for obj in scene.objects)
    y_hi = image_size - max(obj.bbox[3] for obj in scene.objects)
    dx = int(np.clip(rng.integers(-max_shift, max_shift + 1), x_lo, x_hi))
    dy = int(np.clip(rng.integers(-max_shift, max_shift + 1), y_lo, y_hi))
    objects = tuple(
        replace(obj, bbox=(obj.bbox[0] + dx, obj.bbox[1] + dy, obj.bbox[2] + dx, obj.bbox[3] + dy))
        for obj in scene.objects
    )
    return replace(scene, objects=objects, render_seed=int(rng.integers(2**62)))


def relation(a: SceneObject, b: SceneObject) -> str | None:
    """Where a lies relative to b: "left", "right", "above", "below", or None if unclear."""
    dx = a.centre[0] - b.centre[0]
    dy = a.centre[1] - b.centre[1]
    if abs(dx) >= _SPATIAL_MIN_OFFSET_PX and abs(dx) >= _SPATIAL_DOMINANCE * abs(dy):
        return "left" if dx < 0 else "right"
    if abs(dy) >= _SPATIAL_MIN_OFFSET_PX and abs(dy) >= _SPATIAL_DOMINANCE * abs(dx):
        return "above" if dy < 0 else "below"
    return None
