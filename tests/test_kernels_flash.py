"""Pallas flash attention, GPU (Triton-style, interpret=True) and TPU (Mosaic, TPU interpret mode) kernels:
forward/gradients vs the XLA reference, and kernel tile counts equal to the visible tiles of the mask.

Each case also has a compiled twin marked `gpu` / `tpu` (skipped without that hardware; `make accel-check`
runs them), the same check on the real compiler, the XLA reference at full float32 matmul precision."""
import contextlib

import jax
import jax.numpy as jnp
import pytest

from omni.kernels.block_mask import dense_tile_visibility, pad_info
from omni.kernels.flash import BlockSizes, flash_attention, run_kernels
from omni.kernels.testing import fast_jit, max_err, packed_info_with_masked_rows, random_qkvo, reference

F32_ATOL, BF16_ATOL = 1e-5, 2e-2


def _modes(*cases):
    """Each (platform, ...) case interpreted on any machine, then compiled where its hardware is (marked)."""
    hw = {"gpu": pytest.mark.gpu, "tpu": pytest.mark.tpu}
    return ([pytest.param(*c, True, id=f"{c[0]}-interpret") for c in cases]
            + [pytest.param(*c, False, marks=hw[c[0]], id=f"{c[0]}-compiled") for c in cases])


def _jit_and_precision(interpret: bool):
    """Interpret mode: fast CPU compiles. Compiled: plain jit, float32 matmuls at full precision."""
    if interpret:
        return fast_jit, contextlib.nullcontext()
    return jax.jit, jax.default_matmul_precision("highest")


# Each platform's own tile rules: GPU powers of two >= 16; TPU q tiles multiples of 8, kv tiles of 128 lanes.
@pytest.mark.parametrize("platform,seed,blocks,interpret",
                         _modes(("gpu", 0, BlockSizes(32, 32)), ("tpu", 3, BlockSizes(32, 128))))
def test_forward_and_grads_fp32_gqa_uneven_length(platform, seed, blocks, interpret):
    B, L, H, Hkv, D = 2, 100, 4, 2, 64                    # L not a multiple of the block: padded inside
    info = packed_info_with_masked_rows(seed, B, L)
    q, k, v, do = random_qkvo(jax.random.key(seed), B, L, L, H, Hkv, D)

    def run(q, k, v, do):
        o, vjp = jax.vjp(lambda q, k, v: flash_attention(q, k, v, info, info, platform=platform,
                                                         interpret=interpret, block_sizes=blocks), q, k, v)
        return (o, *vjp(do))

    jit, precision = _jit_and_precision(interpret)
    with precision:
        got = jit(run)(q, k, v, do)
        want = reference(q, k, v, info, info, do)
    for name, a, b in zip(("o", "dq", "dk", "dv"), got, want):
        assert not bool(jnp.any(jnp.isnan(a))), name
        assert max_err(a, b) <= F32_ATOL, (name, max_err(a, b))


@pytest.mark.parametrize("platform,seed,B,L,bs,interpret", _modes(
    ("gpu", 1, 2, 160, BlockSizes(block_q=32, block_k=64, block_q_bwd=64, block_k_bwd=32)),
    ("tpu", 4, 1, 300, BlockSizes(block_q=32, block_k=128, block_q_bwd=64, block_k_bwd=256))))
def test_bf16_mqa_head_dim_128_counts_match_visible_tiles(platform, seed, B, L, bs, interpret):
    H, Hkv, D = 2, 1, 128
    info = packed_info_with_masked_rows(seed, B, L)
    q, k, v, do = random_qkvo(jax.random.key(seed), B, L, L, H, Hkv, D, jnp.bfloat16)
    jit, precision = _jit_and_precision(interpret)
    with precision:
        r = jit(lambda q, k, v, do: run_kernels(q, k, v, info, info, do, platform=platform, block_sizes=bs,
                                                interpret=interpret))(q, k, v, do)
        want = reference(q, k, v, info, info, do)
    for name, b in zip(("o", "dq", "dk", "dv"), want):
        assert r[name].dtype == jnp.bfloat16
        assert max_err(r[name], b) <= BF16_ATOL, (name, max_err(r[name], b))
    pq, pk = r["padded"]
    fwd_vis = dense_tile_visibility(pad_info(info, pq), pad_info(info, pk), bs.block_q, bs.block_k)
    bwd_vis = dense_tile_visibility(pad_info(info, pq), pad_info(info, pk), bs.block_q_bwd, bs.block_k_bwd)
    assert int(r["tiles_forward"]) == H * int(fwd_vis.sum()) < H * fwd_vis.size
    assert int(r["tiles_dq"]) == H * int(bwd_vis.sum())
    assert int(r["tiles_dkv"]) == H * int(bwd_vis.sum())
