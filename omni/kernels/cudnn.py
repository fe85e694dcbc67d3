"""The `cudnn` impl: jax.nn.dot_product_attention(implementation='cudnn') with the mask rule expressed.

`mask="causal"`: cuDNN's own causal + padding mask (no mask tensor); valid only when every row is one
segment starting at slot 0 with positions 0..n-1 and no spans (plain LM batches). `mask="dense"`
(default): the rule as a [B, 1, Lq, Lk] boolean mask, exact for every layout but O(L^2) memory.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from omni.attention_ref import IMPLEMENTATIONS, MaskInfo, visible

MASKS = ("dense", "causal")


def is_cuda(backend: str) -> bool:
    """Whether `backend` is an NVIDIA GPU (cuDNN); ROCm GPUs and hosts without a GPU client are not."""
    if backend != "gpu":
        return False
    try:
        return "rocm" not in jax.devices("gpu")[0].client.platform_version.lower()
    except Exception:  # noqa: BLE001 - no GPU client: not available
        return False


@IMPLEMENTATIONS.register("cudnn", available=is_cuda)
def cudnn_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, scale: float | None = None,
                    mask: str = "dense", implementation: str = "cudnn"):
    """q [B, Lq, H, D], k/v [B, Lk, Hkv, D] -> [B, Lq, H, D]; rows with no visible key are zeros."""
    if mask not in MASKS:
        raise ValueError(f"cudnn mask must be one of {MASKS}, got {mask!r}")
    if mask == "causal":
        q_len = jnp.sum(q_info.segment_ids != 0, axis=1).astype(jnp.int32)
        kv_len = jnp.sum(kv_info.segment_ids != 0, axis=1).astype(jnp.int32)
        out = jax.nn.dot_product_attention(q, k, v, scale=scale, is_causal=True, query_seq_lengths=q_len,
                                           key_value_seq_lengths=kv_len, implementation=implementation)
        row_visible = q_info.segment_ids != 0
    else:
        m = visible(q_info, kv_info)                                  # [B, Lq, Lk]
        out = jax.nn.dot_product_attention(q, k, v, mask=m[:, None], scale=scale,
                                           implementation=implementation)
        row_visible = jnp.any(m, axis=-1)
    return jnp.where(row_visible[:, :, None, None], out, 0).astype(q.dtype)
