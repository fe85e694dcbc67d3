"""Tile visibility from per-block min/max: exact on packed layouts, conservative on any layout."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omni.attention import MaskInfo, visible
from omni.kernels.block_mask import (
    FULL,
    PARTIAL,
    SKIP,
    block_stats,
    dense_tile_visibility,
    pad_info,
    schedule,
    tile_classes,
    visible_tile_fraction,
)
from omni.kernels.masks import causal_info, multimodal_info, random_packed_info


@functools.partial(jax.jit, static_argnums=(2, 3))
def _classes(qi, ki, bq, bk):
    return tile_classes(block_stats(qi, bq), block_stats(ki, bk))


def _dense_full(qi, ki, bq, bk):
    m = visible(qi, ki)
    B, Lq, Lk = m.shape
    return m.reshape(B, Lq // bq, bq, Lk // bk, bk).all(axis=(2, 4))


@pytest.mark.parametrize("seed,bq,bk", [(0, 16, 16), (1, 32, 16), (2, 16, 64), (3, 64, 64)])
def test_exact_on_random_packed_rows(seed, bq, bk):
    info = pad_info(random_packed_info(np.random.default_rng(seed), 4, 250), 256)
    cls = _classes(info, info, bq, bk)
    np.testing.assert_array_equal(cls != SKIP, dense_tile_visibility(info, info, bq, bk))
    assert bool(jnp.all(jnp.where(cls == FULL, _dense_full(info, info, bq, bk), True)))  # FULL is truly full


def test_exact_for_decode_queries_against_a_cache():
    """A few queries at positions p..p+n-1 vs a cache whose slots past the length have segment 0."""
    S, n = 128, 8
    seg_k = jnp.where(jnp.arange(S)[None] < jnp.array([[70], [100]]), 1, 0)
    kv = MaskInfo(seg_k, jnp.broadcast_to(jnp.arange(S), (2, S)), jnp.zeros((2, S), jnp.int32))
    q = MaskInfo(jnp.ones((2, n), jnp.int32), jnp.array([[62 + i for i in range(n)], [92 + i for i in range(n)]]),
                 jnp.zeros((2, n), jnp.int32))
    cls = _classes(q, kv, 8, 16)
    np.testing.assert_array_equal(cls != SKIP, dense_tile_visibility(q, kv, 8, 16))
    assert int(jnp.sum(cls != SKIP)) == 5 + 7


def test_conservative_on_arbitrary_unsorted_info():
    rng = np.random.default_rng(7)
    for _ in range(5):
        info = MaskInfo(*(jnp.asarray(rng.integers(0, 3, (2, 64)), jnp.int32) for _ in range(3)))
        cls = _classes(info, info, 16, 16)
        dense = dense_tile_visibility(info, info, 16, 16)
        assert bool(jnp.all(jnp.where(dense, cls != SKIP, True)))            # never skips a visible tile
        assert bool(jnp.all(jnp.where(cls == FULL, _dense_full(info, info, 16, 16), True)))


def test_schedule_lists_full_tiles_first_then_partial_and_pads_with_last():
    cls = jnp.array([[[PARTIAL, FULL, SKIP, FULL], [SKIP, SKIP, SKIP, SKIP], [SKIP, PARTIAL, SKIP, SKIP]]])
    s = schedule(cls)
    np.testing.assert_array_equal(s.n_full, [[2, 0, 0]])
    np.testing.assert_array_equal(s.n_vis, [[3, 0, 1]])
    np.testing.assert_array_equal(s.index[0, 0], [1, 3, 0, 0])
    np.testing.assert_array_equal(s.index[0, 2], [1, 1, 1, 1])


def test_visible_tile_fractions():
    n = 16  # blocks per row
    assert visible_tile_fraction(*(causal_info(1, 128 * n),) * 2, 128, 128) == pytest.approx((n + 1) / (2 * n))
    mm = multimodal_info(1, 128 * n, docs=4, text=128, media=256)
    frac = visible_tile_fraction(mm, mm, 128, 128)
    dense = dense_tile_visibility(mm, mm, 128, 128)
    assert frac == pytest.approx(float(jnp.mean(dense)))
    assert frac < 0.5 * (n + 1) / (2 * n) + 0.1       # 4 packed documents: far fewer tiles than causal
