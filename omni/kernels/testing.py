"""Helpers for kernel tests and the CPU benchmark: random inputs, reference gradients, cheap compiles."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from omni.attention_ref import MaskInfo, visible, xla_attention
from omni.kernels.masks import random_packed_info

# Interpret-mode kernels unroll into large HLO; cheaper XLA CPU passes roughly halve compile time.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn):
    """jax.jit(fn) compiled with FAST_COMPILE options (CPU only; interpret-mode tests)."""
    def run(*args):
        return jax.jit(fn).lower(*args).compile(compiler_options=FAST_COMPILE)(*args)
    return run


def random_qkvo(key, batch, lq, lk, heads, kv_heads, head_dim, dtype=jnp.float32):
    """q [B,Lq,H,D], k/v [B,Lk,Hkv,D] and an output cotangent do [B,Lq,H,D], standard normal."""
    kq, kk, kv, ko = jax.random.split(key, 4)
    return (jax.random.normal(kq, (batch, lq, heads, head_dim), dtype),
            jax.random.normal(kk, (batch, lk, kv_heads, head_dim), dtype),
            jax.random.normal(kv, (batch, lk, kv_heads, head_dim), dtype),
            jax.random.normal(ko, (batch, lq, heads, head_dim), dtype))


def reference(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, do, scale=None):
    """(o, dq, dk, dv) from the XLA reference, computed in float32."""
    f32 = lambda x: x.astype(jnp.float32)  # noqa: E731
    o, vjp = jax.vjp(lambda q, k, v: xla_attention(q, k, v, q_info, kv_info, scale=scale), f32(q), f32(k), f32(v))
    return (o, *vjp(f32(do)))


def max_err(a, b) -> float:
    return float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))


def packed_info_with_masked_rows(seed: int, batch: int, length: int) -> MaskInfo:
    """Random packed documents with padding, asserted to contain fully masked query rows (the kernels'
    hardest case: no visible key at all)."""
    info = random_packed_info(np.random.default_rng(seed), batch, length, pad_prob=1.0)
    if bool(jnp.all(jnp.any(visible(info, info), -1))):
        raise AssertionError(f"seed {seed}: batch must contain fully masked rows")
    return info
