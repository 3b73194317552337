"""Image fingerprints: exact pixels whatever the file, a DCT pHash that tolerates noise."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from curation.decontaminate.imagehash import _dct_matrix, exact_hash, hamming, phash


def _scene(seed: int, side: int = 128) -> Image.Image:
    """Smooth blobs of random colours: structure at low frequencies, like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    pixels = np.zeros((side, side, 3))
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.3)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r**2))
        pixels += blob[..., None] * rng.uniform(0, 255, size=3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _reencoded(image: Image.Image, fmt: str) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_exact_hash_is_the_pixels_not_the_file() -> None:
    image = _scene(0)
    assert exact_hash(_reencoded(image, "PNG")) == exact_hash(_reencoded(image, "BMP"))
    assert exact_hash(image.convert("RGBA")) == exact_hash(image)
    changed = np.asarray(image).copy()
    changed[5, 7, 1] ^= 1
    assert exact_hash(Image.fromarray(changed)) != exact_hash(image)


def test_exact_hash_tells_sizes_with_the_same_bytes_apart() -> None:
    flat = np.zeros((4, 8, 3), dtype=np.uint8)
    assert exact_hash(Image.fromarray(flat)) != exact_hash(Image.fromarray(flat.reshape(8, 4, 3)))


def test_dct_matrix_is_orthonormal() -> None:
    matrix = _dct_matrix(32)
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(32), atol=1e-12)


def test_phash_has_32_bits_set_and_survives_noise_and_resizing() -> None:
    image = _scene(1)
    value = phash(image)
    assert 0 <= value < 2**64
    assert bin(value).count("1") == 32  # half the 63 AC terms above their median, DC below
    noisy = np.asarray(image, dtype=np.float64)
    noisy += np.random.default_rng(0).normal(0, 4, noisy.shape)
    noisy_image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    near = np.array([phash(noisy_image), phash(image.resize((96, 96)))], dtype=np.uint64)
    assert hamming(near, value).max() <= 4
    others = np.array([phash(_scene(seed)) for seed in range(2, 12)], dtype=np.uint64)
    assert hamming(others, value).min() > 10


def test_hamming_counts_differing_bits() -> None:
    hashes = np.array([0, 0b1011, 2**64 - 1], dtype=np.uint64)
    assert hamming(hashes, 0b0001).tolist() == [1, 2, 63]
