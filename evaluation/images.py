"""How an evaluation image is shaped before the processor's resize + centre crop.

    pad   LLaVA-1.5's image_aspect_ratio=pad (its own evaluation and vlmdata's training): the
          image is centred on a square of the processor's mean colour, so nothing is cropped
    crop  the processor alone (lmms-eval's llava_hf): the short side is resized, the long side
          centre-cropped, so a wide image loses its edges

The padding is training's own (`training.images`), so evaluation pixels equal training pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from evaluation.errors import EvalError
from training.images import expand_to_square, mean_colour

IMAGE_ASPECT_RATIOS = ("pad", "crop")


def shape_images(
    images: Sequence[Image.Image], image_mean: Sequence[float], image_aspect_ratio: str
) -> list[Image.Image]:
    """The RGB images the processor receives under `image_aspect_ratio` (pad | crop)."""
    if image_aspect_ratio not in IMAGE_ASPECT_RATIOS:
        raise EvalError(
            f"model image_aspect_ratio must be one of {'|'.join(IMAGE_ASPECT_RATIOS)}, "
            f"got {image_aspect_ratio!r}"
        )
    rgb = [image.convert("RGB") for image in images]
    if image_aspect_ratio == "crop":
        return rgb
    background = mean_colour(image_mean)
    return [expand_to_square(image, background) for image in rgb]
