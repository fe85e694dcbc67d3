"""The `pallas` impl: picks the TPU or GPU kernel, folds heads for decode, and shards with shard_map.

Inside a jitted, sharded train step the kernel runs per shard: batch over the mesh axes
('data', 'fsdp') and heads over 'tensor' (when they divide the shapes), taking the mesh from the
`mesh=` argument or from the context (`jax.set_mesh(mesh)` / `with mesh:`).
"""
from __future__ import annotations

import math

import jax
from jax.sharding import PartitionSpec as P

from omni.attention import MaskInfo
from omni.kernels.decode import fold_heads, unfold_heads
from omni.kernels.flash import BlockSizes, check_shapes, flash_attention


def kernel_platform(interpret=None, backend: str | None = None) -> str:
    """'tpu' or 'gpu': which kernel runs; `interpret` ('gpu' | 'tpu' | True = 'gpu') selects interpret mode."""
    if interpret:
        if interpret is True:
            return "gpu"
        if isinstance(interpret, str):
            if interpret not in ("gpu", "tpu"):
                raise ValueError(f"interpret must be 'gpu', 'tpu', True or an InterpretParams, got {interpret!r}")
            return interpret
        return "tpu"  # a pltpu.InterpretParams
    backend = backend or jax.default_backend()
    if backend in ("tpu", "gpu"):
        return backend
    raise ValueError(f"impl='pallas' needs a TPU or GPU backend, not {backend!r}: use impl='xla' (or 'auto'), "
                     "or interpret='gpu' / interpret='tpu' to run the Pallas kernels in interpret mode (tests)")


def _kernel_interpret(interpret):
    if not interpret or not isinstance(interpret, str):
        return interpret
    return True  # 'gpu' / 'tpu' strings: default interpret settings of that kernel


def context_mesh():
    """The mesh set by `jax.set_mesh` / `jax.sharding.use_mesh` or `with mesh:`, else None."""
    m = jax.sharding.get_abstract_mesh()
    if m is not None and not m.empty:
        return m
    try:  # legacy `with mesh:` context; private API, so tolerate its absence in later jax versions
        from jax._src import mesh as mesh_lib
        pm = mesh_lib.thread_resources.env.physical_mesh
    except (ImportError, AttributeError):
        return None
    return None if pm.empty else pm


def partition_specs(mesh, batch: int, kv_heads: int, batch_axes=("data", "fsdp"), head_axis="tensor"):
    """(q/k/v spec, info spec) sharding batch over `batch_axes` and heads over `head_axis` where they divide."""
    manual = set(getattr(mesh, "manual_axes", ()))
    usable = lambda a: a in mesh.axis_names and a not in manual and mesh.shape[a] > 1  # noqa: E731
    axes = [a for a in batch_axes if usable(a)]
    while axes and batch % math.prod(mesh.shape[a] for a in axes):
        axes.pop()
    b = tuple(axes) if len(axes) > 1 else (axes[0] if axes else None)
    h = head_axis if usable(head_axis) and kv_heads % mesh.shape[head_axis] == 0 else None
    return P(b, None, h, None), P(b, None)


def pallas_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, scale: float | None = None,
                     block_sizes: BlockSizes | None = None, interpret=None, mesh=None,
                     batch_axes=("data", "fsdp"), head_axis: str = "tensor", decode_max_queries: int = 16,
                     num_warps: int | None = None, num_stages: int = 2):
    """Attention under the mask rule with the Pallas kernels; q [B, Lq, H, D], k/v [B, Lk, Hkv, D]."""
    check_shapes(q, k, v, q_info, kv_info)
    platform = kernel_platform(interpret)

    def local(q, k, v, q_info, kv_info):
        kw = dict(platform=platform, scale=scale, block_sizes=block_sizes,
                  interpret=_kernel_interpret(interpret), num_warps=num_warps, num_stages=num_stages)
        if q.shape[1] <= decode_max_queries and q.shape[1] < k.shape[1]:
            qf, qf_info = fold_heads(q, q_info, k.shape[2])
            if scale is None:
                kw["scale"] = q.shape[3] ** -0.5
            return unfold_heads(flash_attention(qf, k, v, qf_info, kv_info, **kw), q.shape[2])
        return flash_attention(q, k, v, q_info, kv_info, **kw)

    mesh = mesh if mesh is not None else context_mesh()
    if mesh is None or mesh.size == 1:
        return local(q, k, v, q_info, kv_info)
    x_spec, i_spec = partition_specs(mesh, q.shape[0], k.shape[2], batch_axes, head_axis)
    if x_spec == P(None, None, None, None):
        return local(q, k, v, q_info, kv_info)
    i_specs = MaskInfo(i_spec, i_spec, i_spec)
    return jax.shard_map(local, mesh=mesh, in_specs=(x_spec, x_spec, x_spec, i_specs, i_specs),
                         out_specs=x_spec, check_vma=False)(q, k, v, q_info, kv_info)
