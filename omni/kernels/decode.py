"""Decode path: a few new queries against a KV cache, with grouped-query heads folded into rows.

With n new queries and G query heads per kv head, the G heads share every kv tile, so they are laid
out as n*G rows of one kv head ([B, n*G, Hkv, D]) and run through the forward kernel as one small
q block; cache blocks past the filled length (segment 0) are skipped by the tile schedule.
"""
from __future__ import annotations

import jax.numpy as jnp

from omni.attention import MaskInfo


def fold_heads(q, q_info: MaskInfo, kv_heads: int):
    """q [B, n, H, D] -> [B, n*G, Hkv, D] (row = query * G + g); info repeated G times per query."""
    B, n, H, D = q.shape
    G = H // kv_heads
    qf = q.reshape(B, n, kv_heads, G, D).transpose(0, 1, 3, 2, 4).reshape(B, n * G, kv_heads, D)
    return qf, MaskInfo(*(jnp.repeat(x, G, axis=1) for x in q_info))


def unfold_heads(o, heads: int):
    """Inverse of fold_heads on the output: [B, n*G, Hkv, D] -> [B, n, H, D]."""
    B, nG, Hkv, D = o.shape
    G = heads // Hkv
    return o.reshape(B, nG // G, G, Hkv, D).transpose(0, 1, 3, 2, 4).reshape(B, nG // G, heads, D)


def cache_info(kv_info: MaskInfo, lengths) -> MaskInfo:
    """Marks cache slots at or past `lengths` [B] as empty (segment 0)."""
    slot = jnp.arange(kv_info.segment_ids.shape[1])[None, :]
    seg = jnp.where(slot < jnp.asarray(lengths)[:, None], kv_info.segment_ids, 0)
    return MaskInfo(seg, kv_info.positions, kv_info.span_ids)


def decode_attention(q, k_cache, v_cache, q_info: MaskInfo, kv_info: MaskInfo, *, lengths=None,
                     impl: str = "auto", **kwargs):
    """Attention of new queries q [B, n, H, D] against a cache [B, S, Hkv, D] of `lengths` [B] slots.

    `kv_info` describes the cache slots; slots at or past `lengths` are ignored. Any impl works;
    'pallas' takes the folded-heads kernel path automatically (see omni.kernels.dispatch).
    """
    from omni.attention import attention
    if lengths is not None:
        kv_info = cache_info(kv_info, lengths)
    return attention(q, k_cache, v_cache, q_info, kv_info, impl=impl, **kwargs)
