"""Images for LLaVA-1.5 training: decode, pad to square with the processor's mean colour."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageFile

from configs.errors import UserError


class ImageLoadError(UserError, ValueError):
    """An image file that is missing or cannot be decoded (message names the file)."""


def load_image(path: str | Path) -> Image.Image:
    """The image at `path` as RGB, fully decoded (so a truncated file fails here)."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"no image file {str(path)!r}")
    # lmms-eval sets PIL's process-wide LOAD_TRUNCATED_IMAGES on import; training never
    # accepts a truncated image, whoever imported what before.
    tolerant, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except Exception as exc:  # PIL raises many types for broken files
        detail = f"PIL cannot read {str(path)!r}: {type(exc).__name__}: {exc}"
        raise ImageLoadError(detail) from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = tolerant


BLIND_GREY = (128, 128, 128)  # the image of a blind control (evaluation blind=true)


def mean_colour(image_mean: Sequence[float]) -> tuple[int, int, int]:
    """The padding colour of LLaVA-1.5: the processor's mean in 0-255, truncated as LLaVA does."""
    r, g, b = (int(x * 255) for x in image_mean)
    return r, g, b


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """LLaVA-1.5's `pad` aspect mode: centre the image on a square canvas of `background`."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas
