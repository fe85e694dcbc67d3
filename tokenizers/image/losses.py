"""Image reconstruction losses that need no downloaded weights: L1/L2, SSIM, image gradients, opponent chroma.

All return scalars (means over the batch) and are differentiable; images are [B, H, W, C] in [0, 1]
(the video tokenizer applies them to its frames). Audio losses: omni_tokenizers.audio.losses.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers.image.metrics import ssim


def l1(x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.abs(x - y))


def l2(x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((x - y) ** 2)


def ssim_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """1 - mean SSIM (structural term); x, y [B, H, W, C]."""
    return 1.0 - jnp.mean(ssim(x, y))


def gradient_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """L1 between horizontal and vertical finite differences (edge sharpness); [B, H, W, C]."""
    dxh, dyh = jnp.diff(x, axis=1), jnp.diff(y, axis=1)
    dxw, dyw = jnp.diff(x, axis=2), jnp.diff(y, axis=2)
    return jnp.mean(jnp.abs(dxh - dyh)) + jnp.mean(jnp.abs(dxw - dyw))


# Orthonormal opponent-colour axes (rows): red-blue and green-magenta. Luma is the third, (1, 1, 1)/sqrt(3).
# (numpy: importing this module must not start a JAX backend)
CHROMA_AXES = (np.asarray([[1.0, 0.0, -1.0], [-0.5, 1.0, -0.5]]) / np.sqrt([[2.0], [1.5]])).astype(np.float32)


def chroma(x: jax.Array) -> jax.Array:
    """[..., 3] RGB -> [..., 2] opponent chroma (red-blue, green-magenta); brightness changes leave it at 0."""
    return jnp.einsum("...c,kc->...k", x, jnp.asarray(CHROMA_AXES, x.dtype))


def chroma_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """L1 between the opponent chroma of x and y (mean over pixels and both axes).

    Prices colour shifts on their own, independently of brightness (`loss.w_chroma`, default 0). Measured on
    the demo video preset (issue #14, 200 steps): w_chroma=2 kept more red/blue hues (all 0.858 -> 0.884) but
    fewer green ones (0.20 -> 0.11): L1 pulls an ambiguous code towards its majority colour, so it does not
    restore an axis the code has dropped."""
    return jnp.mean(jnp.abs(chroma(x) - chroma(y)))


def image_loss(x: jax.Array, y: jax.Array, w_l1: float = 1.0, w_l2: float = 0.0, w_ssim: float = 0.2,
               w_grad: float = 0.2, w_chroma: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of the image terms; returns (total, parts). y is the reconstruction."""
    parts = {"l1": l1(x, y), "l2": l2(x, y)}
    if w_chroma:
        parts["chroma"] = chroma_loss(x, y)
    if w_ssim:
        parts["ssim_loss"] = ssim_loss(x, y)
    if w_grad:
        parts["grad"] = gradient_loss(x, y)
    total = w_l1 * parts["l1"] + w_l2 * parts["l2"] + w_ssim * parts.get("ssim_loss", 0.0) \
        + w_grad * parts.get("grad", 0.0) + w_chroma * parts.get("chroma", 0.0)
    return total, parts

