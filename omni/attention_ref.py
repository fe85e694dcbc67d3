"""The mask rule, the XLA reference attention, and the table of attention implementations.

This is the leaf of the attention stack: every implementation (the XLA reference here, the Pallas and
cuDNN kernels in `omni.kernels`) imports it and registers itself in `IMPLEMENTATIONS`; `omni.attention`,
the interface above them, chooses among them. The table imports `omni.kernels` modules on demand
(`Registry(package=...)`), so this module imports no kernel.

Mask rule (shared by the XLA reference and every kernel): query i sees key j iff

    seg_q[i] == seg_k[j] != 0  and  (pos_k[j] <= pos_q[i]  or  span_q[i] == span_k[j] != 0)

`segment_ids` separate packed examples (0 = padding), `positions` order tokens inside a segment
(for self-attention on a packed row this is the same as j <= i), `span_ids` mark bidirectional
spans (a conditioning image/audio/video). A query row with no visible key outputs zeros.

Shapes: q [B, Lq, H, D], k/v [B, Lk, Hkv, D] with H a multiple of Hkv (grouped-query attention).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from omni.registry import Registry

# name -> implementation with the signature of `xla_attention` (plus **kwargs for block sizes, ...).
# Metadata per entry: available(backend) -> bool, whether it runs on that backend; interpretable: whether it
# can also run on CPU in Pallas interpret mode (tests: `interpret=...`).
IMPLEMENTATIONS: Registry[Callable] = Registry("attention impl", package="omni.kernels",
                                               modules={"pallas": "dispatch"})


class MaskInfo(NamedTuple):
    """Per-token mask metadata for queries or keys: each [B, L] int32."""

    segment_ids: jax.Array
    positions: jax.Array
    span_ids: jax.Array


def visible(q: MaskInfo, k: MaskInfo) -> jax.Array:
    """[B, Lq, Lk] bool: the mask rule evaluated densely (reference / small shapes only)."""
    qs, ks = q.segment_ids[:, :, None], k.segment_ids[:, None, :]
    same_seg = (qs == ks) & (qs != 0)
    causal = k.positions[:, None, :] <= q.positions[:, :, None]
    qsp, ksp = q.span_ids[:, :, None], k.span_ids[:, None, :]
    same_span = (qsp == ksp) & (qsp != 0)
    return same_seg & (causal | same_span)


@IMPLEMENTATIONS.register("xla", available=lambda backend: True)
def xla_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, scale: float | None = None):
    """Reference attention in plain XLA ops (materializes [B, H, Lq, Lk] logits)."""
    B, Lq, H, D = q.shape
    Hkv = k.shape[2]
    if H % Hkv:
        raise ValueError(f"query heads ({H}) must be a multiple of key/value heads ({Hkv})")
    G = H // Hkv
    scale = D ** -0.5 if scale is None else scale
    # Key/value heads are repeated to the query heads: on CPU the folded [B, H, Lq, Lk] layout runs the
    # backward ~1.3x faster than a grouped [B, Hkv, G, Lq, Lk] one (XLA fuses the repeat into the matmuls).
    if G > 1:
        k, v = jnp.repeat(k, G, axis=2), jnp.repeat(v, G, axis=2)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
    mask = visible(q_info, kv_info)
    p = jax.nn.softmax(jnp.where(mask[:, None], logits, -1e30), axis=-1)  # its custom JVP saves only p
    out = jnp.einsum("bhqk,bkhd->bqhd", p.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return (out * jnp.any(mask, axis=-1)[:, :, None, None]).astype(q.dtype)  # fully masked rows -> zeros
