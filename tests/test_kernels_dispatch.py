"""The attention interface with the kernels: dispatch errors, sharded jit, decode path, cudnn mask, lowering."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from omni.attention import MaskInfo, attention, decode_attention, resolve_impl
from omni.kernels import BlockSizes, cudnn_attention
from omni.kernels.dispatch import context_sharding, partition_specs
from omni.kernels.flash import flash_attention
from omni.kernels.masks import causal_info, random_packed_info
from omni.kernels.testing import fast_jit, max_err, random_qkvo, reference

F32_ATOL = 1e-5


def test_cpu_dispatch_errors_name_the_alternatives():
    assert resolve_impl("auto", "cpu") == "xla"
    assert resolve_impl("auto", "tpu") == "pallas"
    assert resolve_impl("pallas", "cpu", interpret="gpu") == "pallas"
    with pytest.raises(ValueError, match=r"'xla'.*interpret"):
        resolve_impl("pallas", "cpu")
    with pytest.raises(ValueError, match="'xla'"):
        resolve_impl("cudnn", "cpu")
    q, k, v, _ = random_qkvo(jax.random.key(0), 1, 16, 16, 2, 1, 64)
    info = causal_info(1, 16)
    with pytest.raises(ValueError, match="interpret"):
        attention(q, k, v, info, impl="pallas")
    with pytest.raises(ValueError, match="interpret must be"):
        attention(q, k, v, info, impl="pallas", interpret="cuda")


def test_pallas_in_the_trainers_sharded_jit_on_8_devices():
    """Inside `omni.sharding.activation_sharding` (as the train step traces): batch and heads sharded."""
    from omni.config import MeshConfig
    from omni.sharding import activation_sharding, make_mesh
    mc = MeshConfig(data=2, fsdp=2, tensor=2)
    mesh = make_mesh(mc)
    B, L, H, Hkv, D = 4, 64, 4, 2, 64
    info = random_packed_info(np.random.default_rng(1), B, L)
    q, k, v, do = random_qkvo(jax.random.key(1), B, L, L, H, Hkv, D)
    want = reference(q, k, v, info, info, do)
    xs = NamedSharding(mesh, P(("data", "fsdp"), None, "tensor", None))
    q, k, v, do = (jax.device_put(x, xs) for x in (q, k, v, do))
    info = MaskInfo(*(jax.device_put(x, NamedSharding(mesh, P(("data", "fsdp"), None))) for x in info))

    def step(q, k, v, do, info):
        f = lambda q, k, v: attention(q, k, v, info, impl="pallas", interpret="gpu",  # noqa: E731
                                      block_sizes=BlockSizes(32, 32))
        o, vjp = jax.vjp(f, q, k, v)
        return (o, *vjp(do))

    with activation_sharding(mesh, mc.rules):
        assert "shard_map" in str(jax.make_jaxpr(step)(q, k, v, do, info))
        got = fast_jit(step)(q, k, v, do, info)
    assert got[0].sharding.spec == xs.spec
    for name, a, b in zip(("o", "dq", "dk", "dv"), got, want):
        assert max_err(np.asarray(a), b) <= F32_ATOL, (name, max_err(np.asarray(a), b))


def test_sharding_specs_from_set_mesh_and_uneven_sizes():
    mesh = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"))
    with jax.set_mesh(mesh):
        ctx_mesh, batch_axes, head_axes = context_sharding()
    assert (batch_axes, head_axes) == (("data", "fsdp"), ("tensor",))
    assert partition_specs(ctx_mesh, 4, 2, batch_axes, head_axes) == (
        P(("data", "fsdp"), None, "tensor", None), P(("data", "fsdp"), None))
    # batch 2 only divides 'data'; one kv head cannot be split over 'tensor': replicated there.
    assert partition_specs(mesh, 2, 1, batch_axes, head_axes) == (P("data", None, None, None), P("data", None))
    assert context_sharding() is None


def test_decode_folds_heads_and_skips_the_empty_cache():
    """3 new queries of 2 rows against a 96-slot cache filled to different lengths; GQA 4:1."""
    B, n, S, H, Hkv, D = 2, 3, 96, 4, 1, 64
    lengths = jnp.array([40, 77])
    q, k, v, do = random_qkvo(jax.random.key(2), B, n, S, H, Hkv, D)
    pos_q = lengths[:, None] - n + jnp.arange(n)[None]
    q_seg = jnp.array([[1, 1, 1], [1, 1, 2]])                  # last query of row 1: segment not in cache
    q_info = MaskInfo(q_seg, pos_q, jnp.zeros((B, n), jnp.int32))
    kv_info = MaskInfo(jnp.ones((B, S), jnp.int32), jnp.broadcast_to(jnp.arange(S), (B, S)),
                       jnp.zeros((B, S), jnp.int32))
    want = decode_attention(q, k, v, q_info, kv_info, lengths=lengths, impl="xla")
    got = fast_jit(lambda q, k, v: decode_attention(q, k, v, q_info, kv_info, lengths=lengths, impl="pallas",
                                                    interpret="gpu", block_sizes=BlockSizes(16, 16)))(q, k, v)
    assert max_err(got, want) <= F32_ATOL
    assert float(jnp.abs(got[1, 2]).max()) == 0.0              # no visible key -> zeros


@pytest.mark.parametrize("mask", ["dense", "causal"])
def test_cudnn_wrapper_expresses_the_rule(mask):
    """The mask translation of the cudnn impl, run through jax.nn's xla implementation on CPU."""
    B, L, H, Hkv, D = 2, 48, 4, 2, 64
    if mask == "dense":
        info = random_packed_info(np.random.default_rng(3), B, L, pad_prob=1.0)
    else:  # one segment per row, right padding: what cuDNN's causal+padding mask expresses
        n = jnp.array([[48], [30]])
        seg = (jnp.arange(L)[None] < n).astype(jnp.int32)
        info = MaskInfo(seg, jnp.broadcast_to(jnp.arange(L), (B, L)), jnp.zeros((B, L), jnp.int32))
    q, k, v, do = random_qkvo(jax.random.key(3), B, L, L, H, Hkv, D)
    got = cudnn_attention(q, k, v, info, info, mask=mask, implementation="xla")
    assert max_err(got, reference(q, k, v, info, info, do)[0]) <= F32_ATOL


@pytest.mark.parametrize("platform,target,call", [("gpu", "cuda", "triton"), ("tpu", "tpu", "tpu_custom_call")])
def test_kernels_lower_for_the_real_accelerator(platform, target, call):
    """Forward + backward lower to Triton / Mosaic custom calls (bf16, head_dim 128, blocks 128)."""
    S = jax.ShapeDtypeStruct
    B, L, H, Hkv, D = 1, 512, 4, 2, 128
    info = MaskInfo(*(S((B, L), jnp.int32),) * 3)

    def loss(q, k, v, info):
        return flash_attention(q, k, v, info, info, platform=platform).astype(jnp.float32).sum()

    text = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).trace(
        S((B, L, H, D), jnp.bfloat16), S((B, L, Hkv, D), jnp.bfloat16), S((B, L, Hkv, D), jnp.bfloat16),
        info).lower(lowering_platforms=(target,)).as_text()
    assert len(re.findall(rf"custom_call @[\w$.]*{call}", text)) == 3       # fwd, dq, dkv
