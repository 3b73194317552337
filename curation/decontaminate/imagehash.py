"""Image fingerprints: an exact one (the decoded pixels) and a perceptual one (DCT pHash).

exact: sha256 of the image decoded to RGB, with its size, so the same pixels match whatever
the file format, compression or metadata. phash: the 64-bit DCT hash of Zauner's pHash, as
the `imagehash` package computes it (grey 32 x 32, 2-D DCT-II, the 8 x 8 lowest frequencies
against their median), except that the median leaves out the DC term, which only measures
brightness and would otherwise sit far above every other coefficient.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from PIL import Image

HASH_SIDE = 32  # the grey thumbnail the DCT runs on
LOW = 8  # the lowest LOW x LOW frequencies make the 64 bits


def exact_hash(image: Image.Image) -> bytes:
    rgb = np.asarray(image.convert("RGB"))
    digest = hashlib.sha256(f"{rgb.shape[1]}x{rgb.shape[0]}\0".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.digest()


@functools.cache
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II: row k holds cos(pi (2i + 1) k / 2n), scaled."""
    i = np.arange(n)
    matrix = np.cos(np.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * n))
    matrix[0] *= np.sqrt(1 / n)
    matrix[1:] *= np.sqrt(2 / n)
    return matrix


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash as an unsigned int (bit 63 = coefficient [0, 0])."""
    grey = image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix(HASH_SIDE)
    low = (dct @ pixels @ dct.T)[:LOW, :LOW].ravel()
    bits = low > np.median(low[1:])
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(hashes: np.ndarray, other: int) -> np.ndarray:
    """Bit differences between every uint64 of `hashes` and `other`."""
    return np.bitwise_count(hashes ^ np.uint64(other)).astype(np.int64)
