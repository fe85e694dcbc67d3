"""GPU (Triton-style) Pallas kernel in interpret mode: forward/gradients vs the XLA reference, tile counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omni.attention import visible
from omni.kernels.block_mask import dense_tile_visibility, pad_info
from omni.kernels.flash import BlockSizes, flash_attention, run_kernels
from omni.kernels.masks import random_packed_info
from omni.kernels.testing import fast_jit, max_err, random_qkvo, reference

F32_ATOL, BF16_ATOL = 1e-5, 2e-2


def _info(seed, B, L):
    info = random_packed_info(np.random.default_rng(seed), B, L, pad_prob=1.0)
    assert not bool(jnp.all(jnp.any(visible(info, info), -1))), "batch must contain fully masked rows"
    return info


def test_forward_and_grads_fp32_gqa_uneven_length():
    B, L, H, Hkv, D = 2, 100, 4, 2, 64                    # L not a multiple of the block: padded inside
    info = _info(0, B, L)
    q, k, v, do = random_qkvo(jax.random.key(0), B, L, L, H, Hkv, D)

    def run(q, k, v, do):
        o, vjp = jax.vjp(lambda q, k, v: flash_attention(q, k, v, info, info, platform="gpu", interpret=True,
                                                         block_sizes=BlockSizes(32, 32)), q, k, v)
        return (o, *vjp(do))

    got = fast_jit(run)(q, k, v, do)
    want = reference(q, k, v, info, info, do)
    for name, a, b in zip(("o", "dq", "dk", "dv"), got, want):
        assert not bool(jnp.any(jnp.isnan(a))), name
        assert max_err(a, b) <= F32_ATOL, (name, max_err(a, b))


def test_bf16_mqa_head_dim_128_counts_match_visible_tiles():
    B, L, H, Hkv, D = 2, 160, 2, 1, 128
    info = _info(1, B, L)
    q, k, v, do = random_qkvo(jax.random.key(1), B, L, L, H, Hkv, D, jnp.bfloat16)
    bs = BlockSizes(block_q=32, block_k=64, block_q_bwd=64, block_k_bwd=32)
    r = fast_jit(lambda q, k, v, do: run_kernels(q, k, v, info, info, do, platform="gpu", block_sizes=bs,
                                                 interpret=True))(q, k, v, do)
    want = reference(q, k, v, info, info, do)
    for name, b in zip(("o", "dq", "dk", "dv"), want):
        assert r[name].dtype == jnp.bfloat16
        assert max_err(r[name], b) <= BF16_ATOL, (name, max_err(r[name], b))
    pq, pk = r["padded"]
    fwd_vis = dense_tile_visibility(pad_info(info, pq), pad_info(info, pk), 32, 64)
    bwd_vis = dense_tile_visibility(pad_info(info, pq), pad_info(info, pk), 64, 32)
    assert int(r["tiles_forward"]) == H * int(fwd_vis.sum()) < H * fwd_vis.size
    assert int(r["tiles_dq"]) == H * int(bwd_vis.sum())
    assert int(r["tiles_dkv"]) == H * int(bwd_vis.sum())


def test_block_size_constraints_are_clear_errors():
    q, k, v, _ = random_qkvo(jax.random.key(2), 1, 40, 40, 2, 1, 64)
    info = _info(2, 1, 40)
    with pytest.raises(ValueError, match="powers of two"):
        flash_attention(q, k, v, info, info, platform="gpu", interpret=True, block_sizes=BlockSizes(48, 32))
    q3 = jnp.concatenate([q, q[:, :, :1]], axis=2)       # 3 query heads over 2 kv heads
    k2, v2 = jnp.concatenate([k, k], axis=2), jnp.concatenate([v, v], axis=2)
    with pytest.raises(ValueError, match="multiple of Hkv"):
        flash_attention(q3, k2, v2, info, info, platform="gpu", interpret=True)
    with pytest.raises(ValueError, match="platform"):
        flash_attention(q, k, v, info, info, platform="cpu")
