"""TPU (Mosaic) Pallas kernel under TPU interpret mode: platform-specific checks (shared: test_kernels_flash.py)."""
import jax
import jax.numpy as jnp
import pytest
from jax.experimental.pallas import tpu as pltpu

from omni.chips import TPU_CHIPS
from omni.kernels import tpu_flash
from omni.kernels.block_mask import tile_schedules
from omni.kernels.flash import BlockSizes, flash_attention, make_cfg, tpu_blocks, tpu_vmem_bytes
from omni.kernels.testing import fast_jit, max_err, packed_info_with_masked_rows, random_qkvo, reference

F32_ATOL = 1e-5


def test_force_tpu_interpret_mode_context_runs_the_raw_kernel():
    """The kernel as written for a TPU (interpret=False) runs under pltpu.force_tpu_interpret_mode()."""
    B, L, H, D, bq, bk = 1, 256, 1, 64, 32, 128
    info = packed_info_with_masked_rows(5, B, L)
    q, k, v, do = random_qkvo(jax.random.key(5), B, L, L, H, H, D)
    sched, _ = tile_schedules(info, info, bq, bk)
    t = lambda x: jnp.swapaxes(x, 1, 2)  # noqa: E731
    with pltpu.force_tpu_interpret_mode():
        o, lse = fast_jit(lambda q, k, v: tpu_flash.forward(
            t(q), t(k), t(v), jnp.stack(info, -1), jnp.stack(info, 1), sched, scale=D ** -0.5,
            block_q=bq, block_k=bk))(q, k, v)
    assert max_err(t(o), reference(q, k, v, info, info, do)[0]) <= F32_ATOL


def test_block_sizes_follow_mosaic_tiling_rules():
    """TPU tiles: q blocks multiples of 8 sublanes, kv blocks multiples of 128 lanes (the compiler rejects
    BlockSizes(128, 64) on a real TPU, so it is a clear error here too, also in interpret mode)."""
    q, k, v, _ = random_qkvo(jax.random.key(2), 1, 40, 40, 2, 1, 64)
    info = packed_info_with_masked_rows(2, 1, 40)
    with pytest.raises(ValueError, match="multiples of 128"):
        flash_attention(q, k, v, info, info, platform="tpu", interpret=True, block_sizes=BlockSizes(128, 64))
    with pytest.raises(ValueError, match="multiples of 8"):
        flash_attention(q, k, v, info, info, platform="tpu", interpret=True, block_sizes=BlockSizes(12, 128))


def test_default_tiles_fit_each_generation_vmem():
    """Default tiles per chip generation stay within 3/4 of its scoped VMEM; tiles that need more raise the
    kernel's VMEM limit up to the physical VMEM, and beyond it are a clear error naming the chip."""
    for chip in TPU_CHIPS.values():
        for D in (64, 128, 256):
            bs = tpu_blocks(chip, D, 2)
            assert bs.block_k % 128 == 0 and bs.block_q % 8 == 0
            assert tpu_vmem_bytes(bs.block_q, bs.block_k, D, 2) <= chip.scoped_vmem_bytes * 3 // 4
    assert tpu_blocks(TPU_CHIPS["v6e"], 128, 2) == BlockSizes(1024, 1024)       # 32 MiB scoped
    assert make_cfg("tpu", 4096, 4096, 128, chip=TPU_CHIPS["v5e"]).vmem_limit is None
    big = make_cfg("tpu", 4096, 4096, 128, block_sizes=BlockSizes(2048, 2048), chip=TPU_CHIPS["v5e"])
    assert TPU_CHIPS["v5e"].scoped_vmem_bytes < big.vmem_limit <= TPU_CHIPS["v5e"].vmem_bytes
    with pytest.raises(ValueError, match="v4 has 16 MiB"):
        make_cfg("tpu", 4096, 4096, 128, block_sizes=BlockSizes(2048, 2048), chip=TPU_CHIPS["v4"])
