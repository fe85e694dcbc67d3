"""Training data for tokenizers: media arrays from the offline corpus, or synthetic shapes for tests.

Images are uint8 [N, H, W, 3], videos uint8 [N, F, H, W, 3], texts list[str]; the training code
converts to float [0, 1] per batch.
"""
from __future__ import annotations

import pathlib

import numpy as np


def corpus_media(data_dir: str | pathlib.Path, split: str, field: str, limit: int | None = None):
    """All present `field` ("image" | "video" | "audio" | "text") items of a corpus split.

    Returns a stacked uint8 array for image/video, a list for audio/text (variable length).
    """
    from omni.data.corpus import open_corpus

    if field not in ("image", "video", "audio", "text"):
        raise ValueError(f"field must be one of image, video, audio, text; got {field!r}")
    src = open_corpus(data_dir, split)
    out = []
    for i in range(len(src)):
        ex = src[i]
        if field == "text":
            if ex["text"]:
                out.append(ex["text"])
        elif ex[f"has_{field}"]:
            out.append(ex[field])
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"the {split!r} split of the corpus at {data_dir} has no {field} items")
    if field in ("image", "video"):
        return np.stack(out).astype(np.uint8)
    return out


def _draw_shape(canvas: np.ndarray, rng: np.random.Generator, cy: float, cx: float, r: float,
                color: np.ndarray, kind: int) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif kind == 1:
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    else:
        mask = (np.abs(yy - cy) + np.abs(xx - cx)) <= r
    canvas[mask] = color


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """n images uint8 [n, size, size, 3]: a color gradient background with 1-3 flat shapes."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    t = np.linspace(0, 1, size)[None, :, None]
    for i in range(n):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)).copy()
        if rng.random() < 0.5:
            img = img.transpose(1, 0, 2).copy()
        for _ in range(rng.integers(1, 4)):
            _draw_shape(img, rng, rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 8, size / 3),
                        rng.uniform(0, 255, 3), int(rng.integers(0, 3)))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def synthetic_videos(n: int, frames: int = 9, size: int = 32, seed: int = 0) -> np.ndarray:
    """n clips uint8 [n, frames, size, size, 3]: shapes moving at constant velocity over a gradient."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, frames, size, size, 3), np.uint8)
    t = np.linspace(0, 1, size)[None, :, None]
    for i in range(n):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        bg = np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)).copy()
        shapes = [(rng.uniform(0, size, 2), rng.uniform(-1.5, 1.5, 2), rng.uniform(size / 8, size / 4),
                   rng.uniform(0, 255, 3), int(rng.integers(0, 3))) for _ in range(rng.integers(1, 3))]
        for f in range(frames):
            img = bg.copy()
            for pos, vel, r, color, kind in shapes:
                p = pos + vel * f
                _draw_shape(img, rng, p[0], p[1], r, color, kind)
            out[i, f] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 media -> float32 in [0, 1]."""
    return np.asarray(x, np.float32) / 255.0
