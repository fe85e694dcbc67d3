"""A fixed image feature space for text->image retrieval: pixel statistics (no learned weights).

features = an 8x8 colour thumbnail (box-averaged) + per-channel mean and standard deviation; before
comparing, every dimension is standardised with the statistics of the bank of real images.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

GRID = 8


def to_float01(images) -> np.ndarray:
    a = np.asarray(images)
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float32), 0.0, 1.0)


def image_features(images, grid: int = GRID) -> np.ndarray:
    """images [N, H, W, 3] (uint8 or float in [0, 1]) -> float32 [N, grid*grid*3 + 6]."""
    a = to_float01(images)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got shape {a.shape}")
    out = []
    for img in a:
        pil = Image.fromarray(np.round(img * 255).astype(np.uint8), "RGB")
        thumb = np.asarray(pil.resize((grid, grid), Image.Resampling.BOX), np.float32) / 255.0
        out.append(np.concatenate([thumb.reshape(-1), img.mean(axis=(0, 1)), img.std(axis=(0, 1))]))
    return np.stack(out).astype(np.float32)


def standardize(queries: np.ndarray, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the bank's per-dimension mean and standard deviation (floor 1e-3)."""
    mu, sd = bank.mean(0, keepdims=True), np.maximum(bank.std(0, keepdims=True), 1e-3)
    return (queries - mu) / sd, (bank - mu) / sd
