"""TPU (Mosaic) Pallas kernel under TPU interpret mode: platform-specific checks (shared: test_kernels_flash.py)."""
import jax
import jax.numpy as jnp
from jax.experimental.pallas import tpu as pltpu

from omni.kernels import tpu_flash
from omni.kernels.block_mask import tile_schedules
from omni.kernels.testing import fast_jit, max_err, packed_info_with_masked_rows, random_qkvo, reference

F32_ATOL = 1e-5


def test_force_tpu_interpret_mode_context_runs_the_raw_kernel():
    """The kernel as written for a TPU (interpret=False) runs under pltpu.force_tpu_interpret_mode()."""
    B, L, H, D, blk = 1, 64, 1, 64, 32
    info = packed_info_with_masked_rows(5, B, L)
    q, k, v, do = random_qkvo(jax.random.key(5), B, L, L, H, H, D)
    sched, _ = tile_schedules(info, info, blk, blk)
    t = lambda x: jnp.swapaxes(x, 1, 2)  # noqa: E731
    with pltpu.force_tpu_interpret_mode():
        o, lse = fast_jit(lambda q, k, v: tpu_flash.forward(
            t(q), t(k), t(v), jnp.stack(info, -1), jnp.stack(info, 1), sched, scale=D ** -0.5,
            block_q=blk, block_k=blk))(q, k, v)
    assert max_err(t(o), reference(q, k, v, info, info, do)[0]) <= F32_ATOL
