"""Parameter-free scalar quantizers with straight-through gradients: FSQ and LFQ, plus usage stats.

FSQ (Mentzer et al. 2023): each latent channel is bounded and rounded to `levels[i]` values; the
code id is the mixed-radix number of the per-channel digits. LFQ (MAGVIT-v2): each channel is a
bit (sign), id = sum(bit_i * 2^i), with an entropy penalty that spreads usage over the codebook.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def round_ste(x: jax.Array) -> jax.Array:
    """Round with an identity (straight-through) gradient."""
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


class FSQ(nnx.Module):
    """Finite scalar quantization over the last axis: z [..., D=len(levels)] -> (zq in [-1, 1], ids)."""

    def __init__(self, levels: Sequence[int], eps: float = 1e-3):
        levels = tuple(int(v) for v in levels)
        if not levels or any(v < 2 for v in levels):
            raise ValueError(f"FSQ levels must be a non-empty list of integers >= 2, got {levels}")
        self.levels = levels
        self.eps = float(eps)
        self.codebook_size = int(np.prod(levels))
        self.dim = len(levels)

    def _consts(self):
        lv = jnp.asarray(self.levels, jnp.float32)
        half_l = (lv - 1) * (1 + self.eps) / 2
        offset = jnp.where(jnp.asarray(self.levels) % 2 == 0, 0.5, 0.0)
        shift = jnp.arctanh(offset / half_l)
        half_width = jnp.asarray([v // 2 for v in self.levels], jnp.float32)
        basis = jnp.asarray(np.cumprod((1,) + self.levels[:-1]), jnp.int32)
        return half_l, offset, shift, half_width, basis

    def bound(self, z: jax.Array) -> jax.Array:
        half_l, offset, shift, _, _ = self._consts()
        return jnp.tanh(z + shift) * half_l - offset

    def quantize(self, z: jax.Array) -> jax.Array:
        """z [..., D] -> zq [..., D], values on the grid, normalized to about [-1, 1]; STE gradient."""
        _, _, _, half_width, _ = self._consts()
        return round_ste(self.bound(z.astype(jnp.float32))) / half_width

    def codes_to_ids(self, zq: jax.Array) -> jax.Array:
        _, _, _, half_width, basis = self._consts()
        digits = jnp.round(zq * half_width + half_width).astype(jnp.int32)
        return jnp.sum(digits * basis, axis=-1).astype(jnp.int32)

    def ids_to_codes(self, ids: jax.Array) -> jax.Array:
        """ids [...] -> zq [..., D] (the exact inverse of codes_to_ids on the grid)."""
        _, _, _, half_width, basis = self._consts()
        lv = jnp.asarray(self.levels, jnp.int32)
        digits = (ids[..., None].astype(jnp.int32) // basis) % lv
        return (digits.astype(jnp.float32) - half_width) / half_width

    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        if z.shape[-1] != self.dim:
            raise ValueError(f"FSQ expects {self.dim} channels (one per level), got shape {z.shape}")
        zq = self.quantize(z)
        return zq, self.codes_to_ids(zq)


class LFQ(nnx.Module):
    """Lookup-free quantization: z [..., K] -> (sign(z) in {-1, 1}, ids in [0, 2^K)), STE gradient."""

    def __init__(self, num_bits: int, temperature: float = 0.01):
        if not 1 <= int(num_bits) <= 30:
            raise ValueError(f"LFQ num_bits must be in [1, 30], got {num_bits}")
        self.dim = int(num_bits)
        self.codebook_size = 2 ** self.dim
        self.temperature = float(temperature)

    def codes_to_ids(self, zq: jax.Array) -> jax.Array:
        bits = (zq > 0).astype(jnp.int32)
        return jnp.sum(bits * (2 ** jnp.arange(self.dim, dtype=jnp.int32)), axis=-1).astype(jnp.int32)

    def ids_to_codes(self, ids: jax.Array) -> jax.Array:
        bits = (ids[..., None].astype(jnp.int32) >> jnp.arange(self.dim, dtype=jnp.int32)) & 1
        return bits.astype(jnp.float32) * 2 - 1

    def entropy_loss(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mean per-sample entropy, codebook entropy) in nats, factorized over bits.

        With logits -||z - c||^2 / T the code distribution factorizes into independent bits with
        p(bit_i = 1) = sigmoid(4 z_i / T), so the per-sample entropy is exact; the codebook entropy
        uses the per-bit marginals (an upper bound, exact when bits are independent).
        Minimize `per_sample - codebook` to make codes confident yet evenly used.
        """
        p = jax.nn.sigmoid(4.0 * z.reshape(-1, self.dim).astype(jnp.float32) / self.temperature)

        def h(q):
            q = jnp.clip(q, 1e-6, 1 - 1e-6)
            return -(q * jnp.log(q) + (1 - q) * jnp.log(1 - q))

        return jnp.mean(jnp.sum(h(p), -1)), jnp.sum(h(jnp.mean(p, 0)))

    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        if z.shape[-1] != self.dim:
            raise ValueError(f"LFQ expects {self.dim} channels (one per bit), got shape {z.shape}")
        z = z.astype(jnp.float32)
        q = jnp.where(z > 0, 1.0, -1.0)
        zq = z + jax.lax.stop_gradient(q - z)
        return zq, self.codes_to_ids(q)


def make_quantizer(kind: str, levels: Sequence[int]) -> FSQ | LFQ:
    """"fsq" with `levels`, or "lfq" with len(levels) bits (levels must all be 2)."""
    if kind == "fsq":
        return FSQ(levels)
    if kind == "lfq":
        if any(int(v) != 2 for v in levels):
            raise ValueError(f"LFQ uses one bit per channel: levels must all be 2, got {tuple(levels)}")
        return LFQ(len(levels))
    raise ValueError(f"quantizer must be 'fsq' or 'lfq', got {kind!r}")


def code_histogram(ids: jax.Array, codebook_size: int) -> jax.Array:
    """Counts per code, [codebook_size] int32 (jit-friendly)."""
    return jnp.bincount(ids.reshape(-1), length=codebook_size).astype(jnp.int32)


def codebook_usage(ids, codebook_size: int) -> dict[str, float]:
    """usage: fraction of codes seen; perplexity: exp(entropy) of the empirical code distribution."""
    counts = np.bincount(np.asarray(ids).reshape(-1), minlength=codebook_size).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError("codebook_usage needs at least one id")
    p = counts[counts > 0] / total
    return {"usage": float((counts > 0).mean()), "perplexity": float(math.exp(-(p * np.log(p)).sum())),
            "codes_used": int((counts > 0).sum())}
