"""The `pallas` impl: picks the TPU or GPU kernel, folds heads for decode, and shards with shard_map.

Inside a jitted, sharded train step the kernel runs per shard: batch over the mesh axes of the
logical 'batch' axis and heads over those of 'heads' (from the trainer's activation-sharding rules),
else ('data', 'fsdp') and 'tensor' under `jax.set_mesh(mesh)` / `with mesh:`, where they divide.
"""
from __future__ import annotations

import math

import jax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

from omni import sharding as omni_sharding
from omni.attention_ref import IMPLEMENTATIONS, MaskInfo
from omni.chips import chip_for_device_kind
from omni.kernels.flash import BlockSizes, check_shapes, flash_attention
from omni.kernels.head_folding import fold_heads, unfold_heads


def kernel_platform(interpret=None, device=None) -> str:
    """'tpu' or 'gpu': which kernel runs. `interpret` ('gpu' | 'tpu' | True = 'gpu') selects interpret mode;
    otherwise the platform of `device` (the target of the traced program, `omni.sharding.target_device`:
    a mesh's devices, never merely the host's default backend)."""
    if interpret:
        if interpret is True:
            return "gpu"
        if isinstance(interpret, str):
            if interpret not in ("gpu", "tpu"):
                raise ValueError(f"interpret must be 'gpu', 'tpu', True or an InterpretParams, got {interpret!r}")
            return interpret
        return "tpu"  # a pltpu.InterpretParams
    device = omni_sharding.target_device() if device is None else device
    backend = "gpu" if device.platform in ("cuda", "rocm") else device.platform
    if backend in ("tpu", "gpu"):
        return backend
    raise ValueError(f"impl='pallas' needs a TPU or GPU backend, not {backend!r}: use impl='xla' (or 'auto'), "
                     "or interpret='gpu' / interpret='tpu' to run the Pallas kernels in interpret mode (tests)")


def _kernel_interpret(interpret):
    if not interpret or not isinstance(interpret, str):
        return interpret
    return True  # 'gpu' / 'tpu' strings: default interpret settings of that kernel


def _axes(x) -> tuple[str, ...]:
    return () if x is None else (x,) if isinstance(x, str) else tuple(x)


def context_sharding(batch_axes=None, head_axes=None):
    """(mesh, batch axes, head axes) from the context, or None outside any mesh.

    The trainer's `omni.sharding.activation_sharding(mesh, rules)` wins (its rules map the logical
    'batch' / 'heads' axes); else `jax.set_mesh` / `with mesh:` with ('data', 'fsdp') / 'tensor'.
    """
    ctx = omni_sharding.current_activation_sharding()  # (mesh, rules) while the trainer traces
    if ctx is not None:
        mesh, rules = ctx
        table = dict(rules)
        return (mesh, _axes(table.get("batch")) if batch_axes is None else _axes(batch_axes),
                _axes(table.get("heads")) if head_axes is None else _axes(head_axes))
    mesh = omni_sharding.context_mesh()
    if mesh is None:
        return None
    return (mesh, _axes(("data", "fsdp") if batch_axes is None else batch_axes),
            _axes("tensor" if head_axes is None else head_axes))


def partition_specs(mesh, batch: int, kv_heads: int, batch_axes=("data", "fsdp"), head_axes=("tensor",)):
    """(q/k/v spec, info spec): batch over `batch_axes`, heads over `head_axes`, where sizes divide."""
    manual = set(getattr(mesh, "manual_axes", ()))
    usable = lambda a: a in mesh.axis_names and a not in manual and mesh.shape[a] > 1  # noqa: E731

    def fit(axes, n):
        axes = [a for a in _axes(axes) if usable(a)]
        while axes and n % math.prod(mesh.shape[a] for a in axes):
            axes.pop()
        return tuple(axes) if len(axes) > 1 else (axes[0] if axes else None)

    b = fit(batch_axes, batch)
    h = fit([a for a in _axes(head_axes) if a not in _axes(b)], kv_heads)  # kv heads divide -> q heads do
    return P(b, None, h, None), P(b, None)


@IMPLEMENTATIONS.register("pallas", available=lambda backend: backend in ("tpu", "gpu"), interpretable=True)
def pallas_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, scale: float | None = None,
                     block_sizes: BlockSizes | None = None, interpret=None, mesh=None, batch_axes=None,
                     head_axes=None, decode_max_queries: int = 16, num_warps: int | None = None,
                     num_stages: int = 2):
    """Attention under the mask rule with the Pallas kernels; q [B, Lq, H, D], k/v [B, Lk, Hkv, D].

    Sharding: `mesh` (else the context, see `context_sharding`) with batch over `batch_axes` and heads
    over `head_axes`; each shard runs the kernel on its own rows and heads.
    """
    check_shapes(q, k, v, q_info, kv_info)
    if mesh is not None:
        ctx = (mesh, _axes(("data", "fsdp") if batch_axes is None else batch_axes),
               _axes("tensor" if head_axes is None else head_axes))
    else:
        ctx = context_sharding(batch_axes, head_axes)
    device = omni_sharding.target_device(ctx[0] if ctx else None)
    platform = kernel_platform(interpret, device)
    chip = chip_for_device_kind(device.device_kind) if platform == "tpu" and not interpret else None

    def local(q, k, v, q_info, kv_info):
        kw = dict(platform=platform, scale=scale, block_sizes=block_sizes, chip=chip,
                  interpret=_kernel_interpret(interpret), num_warps=num_warps, num_stages=num_stages)
        if q.shape[1] <= decode_max_queries and q.shape[1] < k.shape[1]:
            qf, qf_info = fold_heads(q, q_info, k.shape[2])
            return unfold_heads(flash_attention(qf, k, v, qf_info, kv_info, **kw), q.shape[2])
        return flash_attention(q, k, v, q_info, kv_info, **kw)

    if ctx is None or ctx[0].size == 1:
        return local(q, k, v, q_info, kv_info)
    mesh = ctx[0]
    # Even when no axis divides (every shard computes all rows), the kernel runs inside shard_map: Mosaic
    # custom calls cannot be partitioned by the SPMD partitioner.
    x_spec, i_spec = partition_specs(mesh, q.shape[0], k.shape[2], ctx[1], ctx[2])
    i_specs = MaskInfo(i_spec, i_spec, i_spec)
    args, specs = (q, k, v, q_info, kv_info), (x_spec, x_spec, x_spec, i_specs, i_specs)
    if any(t == AxisType.Explicit for t in getattr(mesh, "axis_types", ())):
        args = jax.sharding.reshard(args, specs)  # explicit-sharding meshes: shard_map wants exact specs
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=x_spec, check_vma=False)(*args)
