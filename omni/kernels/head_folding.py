"""Grouped-query heads folded into rows, for the decode path of the `pallas` impl.

With n new queries and G query heads per kv head, the G heads share every kv tile, so they are laid
out as n*G rows of one kv head ([B, n*G, Hkv, D]) and run through the forward kernel as one small
q block; cache blocks past the filled length (segment 0) are skipped by the tile schedule.
"""
from __future__ import annotations

import jax.numpy as jnp

from omni.attention_ref import MaskInfo


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
