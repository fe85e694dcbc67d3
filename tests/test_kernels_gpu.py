"""GPU (Triton-style) Pallas kernel in interpret mode: platform-specific checks (shared: test_kernels_flash.py)."""
import jax
import jax.numpy as jnp
import pytest

from omni.kernels.flash import BlockSizes, flash_attention
from omni.kernels.testing import packed_info_with_masked_rows, random_qkvo


def test_block_size_constraints_are_clear_errors():
    q, k, v, _ = random_qkvo(jax.random.key(2), 1, 40, 40, 2, 1, 64)
    info = packed_info_with_masked_rows(2, 1, 40)
    with pytest.raises(ValueError, match="powers of two"):
        flash_attention(q, k, v, info, info, platform="gpu", interpret=True, block_sizes=BlockSizes(48, 32))
    q3 = jnp.concatenate([q, q[:, :, :1]], axis=2)       # 3 query heads over 2 kv heads
    k2, v2 = jnp.concatenate([k, k], axis=2), jnp.concatenate([v, v], axis=2)
    with pytest.raises(ValueError, match="multiple of Hkv"):
        flash_attention(q3, k2, v2, info, info, platform="gpu", interpret=True)
    with pytest.raises(ValueError, match="platform"):
        flash_attention(q, k, v, info, info, platform="cpu")
