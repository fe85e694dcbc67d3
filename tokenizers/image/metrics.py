"""Reconstruction metrics for images and video frames: PSNR and SSIM (jnp, differentiable, batched).

SSIM follows Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03, valid
filtering, averaged over channels; it matches skimage's structural_similarity(gaussian_weights=True,
use_sample_covariance=False, data_range=1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def psnr(x: jax.Array, y: jax.Array, data_range: float = 1.0) -> jax.Array:
    """Per-item PSNR in dB over all non-batch axes: x, y [B, ...] -> [B]."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    if x.shape != y.shape:
        raise ValueError(f"psnr needs equal shapes, got {x.shape} and {y.shape}")
    mse = jnp.mean((x - y) ** 2, axis=tuple(range(1, x.ndim)))
    return 10.0 * jnp.log10(data_range ** 2 / jnp.maximum(mse, 1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _band(n: int, win: np.ndarray) -> np.ndarray:
    """[n - k + 1, n] matrix applying the 1-D window with valid padding (a GEMM beats depthwise conv on CPU)."""
    k = len(win)
    m = np.zeros((n - k + 1, n), np.float32)
    for i in range(n - k + 1):
        m[i, i:i + k] = win
    return m


def _blur(x: jax.Array, win: np.ndarray) -> jax.Array:
    """Separable valid filtering of x [N, H, W, C] with the 1-D window (per channel)."""
    bh, bw = jnp.asarray(_band(x.shape[1], win)), jnp.asarray(_band(x.shape[2], win))
    x = jnp.einsum("oh,nhwc->nowc", bh, x, precision="highest")
    return jnp.einsum("pw,nowc->nopc", bw, x, precision="highest")


def ssim(x: jax.Array, y: jax.Array, data_range: float = 1.0, win_size: int = 11) -> jax.Array:
    """Per-image mean SSIM: x, y [B, H, W, C] -> [B]. H and W must be >= win_size."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two [B, H, W, C] arrays of equal shape, got {x.shape} and {y.shape}")
    if min(x.shape[1:3]) < win_size:
        raise ValueError(f"ssim needs images of at least {win_size}x{win_size}, got {x.shape[1:3]}")
    win = _gaussian_window(win_size)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, win), _blur(y, win)
    sxx = _blur(x * x, win) - mx * mx
    syy = _blur(y * y, win) - my * my
    sxy = _blur(x * y, win) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    # skimage crops (win-1)/2 from each border of the 'same' map; valid filtering gives that region.
    return jnp.mean(s, axis=(1, 2, 3))


def frames_psnr(x: jax.Array, y: jax.Array) -> jax.Array:
    """Video [B, F, H, W, C] -> per-frame PSNR [B, F]."""
    b, f = x.shape[:2]
    return psnr(x.reshape((b * f,) + x.shape[2:]), y.reshape((b * f,) + y.shape[2:])).reshape(b, f)
