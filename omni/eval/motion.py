"""Motion direction of a clip measured from its frames (no model): the track of frame-difference energy.

For an object moving over a still background, |frame[t+1] - frame[t]| lights up the object's leading
and trailing edges, so the centroid of that energy follows the object. The least-squares slope of the
centroids over time gives the direction; a clip whose centroid travels less than `min_shift` of the
frame side has no direction (None).
"""
from __future__ import annotations

import numpy as np

from omni.eval.metrics import words

DIRECTIONS = ("left", "right", "up", "down")


def energy_centroids(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """frames [T, H, W, C] -> (centroids [T-1, 2] as (x, y) in pixels, energy [T-1]) of frame differences.

    Energy below the median of each difference map is dropped first, so uniform noise does not pull
    the centroid to the centre."""
    raw = np.asarray(frames)
    if raw.ndim != 4 or raw.shape[0] < 2:
        raise ValueError(f"frames must be [T >= 2, H, W, C], got shape {raw.shape}")
    f = raw.astype(np.float32) / (255.0 if raw.dtype == np.uint8 else 1.0)
    diff = np.abs(np.diff(f, axis=0)).mean(-1)                       # [T-1, H, W]
    diff = np.maximum(diff - np.median(diff, axis=(1, 2), keepdims=True), 0.0)
    H, W = diff.shape[1:]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    mass = diff.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-12)
    cx = (diff * xs).sum(axis=(1, 2)) / safe
    cy = (diff * ys).sum(axis=(1, 2)) / safe
    return np.stack([cx, cy], -1), mass


def motion_vector(frames: np.ndarray) -> np.ndarray:
    """(dx, dy) in pixels over the whole clip: the energy-weighted least-squares slope of the centroids
    times the number of steps (x to the right, y downwards). Zero when nothing changes."""
    c, mass = energy_centroids(frames)
    keep = mass > 1e-6 * max(float(mass.max()), 1e-12)
    if keep.sum() < 2 or mass.max() <= 0:
        return np.zeros(2, np.float32)
    t = np.arange(len(mass), dtype=np.float64)[keep]
    w = mass[keep].astype(np.float64)
    tc = t - np.average(t, weights=w)
    denom = (w * tc ** 2).sum()
    if denom <= 0:
        return np.zeros(2, np.float32)
    slope = (w[:, None] * tc[:, None] * c[keep]).sum(0) / denom
    return (slope * (len(mass))).astype(np.float32)


def motion_direction(frames: np.ndarray, min_shift: float = 0.05) -> str | None:
    """'left' | 'right' | 'up' | 'down' (image axes: up = towards row 0), or None for no clear motion."""
    dx, dy = motion_vector(frames)
    side = max(np.asarray(frames).shape[1:3])
    if max(abs(dx), abs(dy)) < min_shift * side:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def direction_in_text(text: str) -> str | None:
    """The first motion direction word of a caption ("A goat moving left." -> 'left'), or None."""
    for w in words(text):
        if w in DIRECTIONS:
            return w
    return None
