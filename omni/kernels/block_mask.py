"""Per-tile visibility for block-sparse attention, from per-block min/max of segment/span/position.

A tile (q block i, kv block j) is SKIP when the mask rule hides every pair, FULL when it shows every
pair (no mask needed), PARTIAL otherwise. The test is conservative (never SKIPs a visible tile) and
exact for packed layouts (segments contiguous, positions increasing inside a segment, span ids
increasing along the row): `(seg, pos)` and `(seg, span)` are compared lexicographically, so no
L x L mask is ever built. Kernels consume `schedule(...)`: per q block, the visible kv blocks with
FULL tiles first, then PARTIAL ones.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from omni.attention_ref import MaskInfo, visible

SKIP, PARTIAL, FULL = 0, 1, 2
_BIG = jnp.iinfo(jnp.int32).max
_SMALL = jnp.iinfo(jnp.int32).min


class BlockStats(NamedTuple):
    """Summary of each block of tokens: every field [B, n_blocks]."""

    any_valid: jax.Array   # some token has segment != 0
    seg_min: jax.Array
    seg_max: jax.Array
    lo_pos: jax.Array      # position of the lexicographic min (seg, pos): (seg_min, lo_pos)
    hi_pos: jax.Array      # position of the lexicographic max (seg, pos): (seg_max, hi_pos)
    pos_min: jax.Array     # over all tokens (used for FULL tiles only, where seg is uniform)
    pos_max: jax.Array
    seg_uniform: jax.Array  # every token valid and in one segment
    any_span: jax.Array     # some valid token has span != 0
    sp_lo_seg: jax.Array    # lexicographic min / max of (seg, span) over valid span tokens
    sp_lo: jax.Array
    sp_hi_seg: jax.Array
    sp_hi: jax.Array
    span_uniform: jax.Array  # every token valid, in one segment and one non-zero span


def pad_info(info: MaskInfo, length: int) -> MaskInfo:
    """Pads [B, L] mask info to [B, length] with padding tokens (segment 0)."""
    extra = length - info.segment_ids.shape[1]
    if extra < 0:
        raise ValueError(f"cannot pad mask info of length {info.segment_ids.shape[1]} down to {length}")
    info = MaskInfo(*(jnp.asarray(x, jnp.int32) for x in info))
    return info if extra == 0 else MaskInfo(*(jnp.pad(x, ((0, 0), (0, extra))) for x in info))


def block_stats(info: MaskInfo, block: int) -> BlockStats:
    """Per-block summary of [B, L] mask info; L must be a multiple of `block`."""
    B, L = info.segment_ids.shape
    if L % block:
        raise ValueError(f"length {L} must be a multiple of the block size {block} (pad first)")
    seg, pos, span = (x.astype(jnp.int32).reshape(B, L // block, block) for x in info)
    valid = seg != 0
    seg_min = jnp.min(jnp.where(valid, seg, _BIG), -1)
    seg_max = jnp.max(jnp.where(valid, seg, _SMALL), -1)
    lo_pos = jnp.min(jnp.where(valid & (seg == seg_min[..., None]), pos, _BIG), -1)
    hi_pos = jnp.max(jnp.where(valid & (seg == seg_max[..., None]), pos, _SMALL), -1)
    has_sp = valid & (span != 0)
    sp_lo_seg = jnp.min(jnp.where(has_sp, seg, _BIG), -1)
    sp_hi_seg = jnp.max(jnp.where(has_sp, seg, _SMALL), -1)
    sp_lo = jnp.min(jnp.where(has_sp & (seg == sp_lo_seg[..., None]), span, _BIG), -1)
    sp_hi = jnp.max(jnp.where(has_sp & (seg == sp_hi_seg[..., None]), span, _SMALL), -1)
    seg_uniform = jnp.all(valid, -1) & (seg_min == seg_max)
    span_uniform = seg_uniform & jnp.all(span != 0, -1) & (jnp.min(span, -1) == jnp.max(span, -1))
    return BlockStats(jnp.any(valid, -1), seg_min, seg_max, lo_pos, hi_pos, jnp.min(pos, -1),
                      jnp.max(pos, -1), seg_uniform, jnp.any(has_sp, -1), sp_lo_seg, sp_lo, sp_hi_seg,
                      sp_hi, span_uniform)


def _lex_le(a_seg, a_val, b_seg, b_val):
    return (a_seg < b_seg) | ((a_seg == b_seg) & (a_val <= b_val))


def tile_classes(q: BlockStats, k: BlockStats) -> jax.Array:
    """[B, nq, nk] int32 in {SKIP, PARTIAL, FULL} for every (q block, kv block) tile."""
    Q = lambda x: x[:, :, None]  # noqa: E731
    K = lambda x: x[:, None, :]  # noqa: E731
    both = Q(q.any_valid) & K(k.any_valid)
    seg_overlap = both & (Q(q.seg_min) <= K(k.seg_max)) & (K(k.seg_min) <= Q(q.seg_max))
    causal = seg_overlap & _lex_le(K(k.seg_min), K(k.lo_pos), Q(q.seg_max), Q(q.hi_pos))
    span = (Q(q.any_span) & K(k.any_span)
            & _lex_le(Q(q.sp_lo_seg), Q(q.sp_lo), K(k.sp_hi_seg), K(k.sp_hi))
            & _lex_le(K(k.sp_lo_seg), K(k.sp_lo), Q(q.sp_hi_seg), Q(q.sp_hi)))
    same_seg = Q(q.seg_uniform) & K(k.seg_uniform) & (Q(q.seg_min) == K(k.seg_min))
    full_causal = same_seg & (K(k.pos_max) <= Q(q.pos_min))
    full_span = (same_seg & Q(q.span_uniform) & K(k.span_uniform)
                 & (Q(q.sp_lo) == K(k.sp_lo)))
    full = full_causal | full_span
    return jnp.where(full, FULL, jnp.where(causal | span, PARTIAL, SKIP)).astype(jnp.int32)


class Schedule(NamedTuple):
    """What a kernel iterates over: per row block, the visible column blocks (FULL first)."""

    index: jax.Array   # [B, n_rows, n_cols] int32 column block ids; padded by repeating the last one
    n_full: jax.Array  # [B, n_rows] int32 how many leading entries are FULL tiles
    n_vis: jax.Array   # [B, n_rows] int32 how many entries are visible (FULL + PARTIAL)


def schedule(classes: jax.Array) -> Schedule:
    """Compacts [B, R, C] tile classes into per-row lists of visible column blocks."""
    C = classes.shape[-1]
    col = jnp.arange(C, dtype=jnp.int32)
    key = jnp.where(classes == FULL, col, jnp.where(classes == PARTIAL, C + col, 2 * C + col))
    order = jnp.argsort(key, axis=-1).astype(jnp.int32)
    n_full = jnp.sum(classes == FULL, -1).astype(jnp.int32)
    n_vis = jnp.sum(classes != SKIP, -1).astype(jnp.int32)
    # Steps past n_vis repeat the last visible block: a TPU pipeline then issues no new copy.
    last = jnp.take_along_axis(order, jnp.maximum(n_vis - 1, 0)[..., None], -1)
    index = jnp.where(col < n_vis[..., None], order, last)
    return Schedule(index, n_full, n_vis)


def tile_schedules(q_info: MaskInfo, kv_info: MaskInfo, block_q: int, block_k: int
                   ) -> tuple[Schedule, Schedule]:
    """Schedules for the forward/dq pass (rows = q blocks) and the dk/dv pass (rows = kv blocks)."""
    classes = tile_classes(block_stats(q_info, block_q), block_stats(kv_info, block_k))
    return schedule(classes), schedule(jnp.swapaxes(classes, 1, 2))


def tile_mask(q_seg, q_pos, q_span, k_seg, k_pos, k_span):
    """The mask rule on one tile: q fields [bq, 1], k fields [1, bk] -> [bq, bk] bool."""
    same_seg = (q_seg == k_seg) & (q_seg != 0)
    same_span = (q_span == k_span) & (q_span != 0)
    return same_seg & ((k_pos <= q_pos) | same_span)


def dense_tile_visibility(q_info: MaskInfo, kv_info: MaskInfo, block_q: int, block_k: int) -> jax.Array:
    """[B, nq, nk] bool: tiles with at least one visible pair, from the dense mask (tests only)."""
    m = visible(q_info, kv_info)
    B, Lq, Lk = m.shape
    return m.reshape(B, Lq // block_q, block_q, Lk // block_k, block_k).any(axis=(2, 4))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _visible_fraction(q_info: MaskInfo, kv_info: MaskInfo, block_q: int, block_k: int) -> jax.Array:
    return jnp.mean(tile_classes(block_stats(q_info, block_q), block_stats(kv_info, block_k)) != SKIP)


def visible_tile_fraction(q_info: MaskInfo, kv_info: MaskInfo, block_q: int, block_k: int) -> float:
    """Fraction of tiles the block schedule computes (1.0 = dense)."""
    return float(_visible_fraction(q_info, kv_info, block_q, block_k))
