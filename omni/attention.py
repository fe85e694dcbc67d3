"""The attention interface: one mask rule, several implementations; this module chooses among them.

The mask rule, `MaskInfo` and the XLA reference live in the leaf `omni.attention_ref`, which the kernels
import; implementations register there (`IMPLEMENTATIONS`: `xla` in the leaf, `pallas` and `cudnn` in
`omni.kernels`, imported on first use). `attention(..., impl=...)` resolves a name ('auto' picks by the
target backend) and calls it; `decode_attention` runs new queries against a KV cache through it.

Shapes: q [B, Lq, H, D], k/v [B, Lk, Hkv, D] with H a multiple of Hkv (grouped-query attention).
"""
from __future__ import annotations

import jax.numpy as jnp

from omni import sharding
from omni.attention_ref import IMPLEMENTATIONS, MaskInfo, visible, xla_attention

__all__ = ["AUTO_ORDER", "IMPLEMENTATIONS", "MaskInfo", "attention", "cache_info", "decode_attention",
           "resolve_impl", "visible", "xla_attention"]

# backend -> preference order for impl="auto".
AUTO_ORDER: dict[str, tuple[str, ...]] = {"tpu": ("pallas", "xla"), "gpu": ("pallas", "cudnn", "xla"),
                                          "cpu": ("xla",)}


def _available(name: str, backend: str) -> bool:
    return IMPLEMENTATIONS.meta(name)["available"](backend)


def resolve_impl(impl: str, backend: str | None = None, *, interpret=None) -> str:
    """The implementation `impl` names on `backend` (default: the platform the traced program targets, see
    `omni.sharding.target_platform`: a TPU mesh's when compiling ahead of time for a TPU from a CPU host)."""
    backend = backend or sharding.target_platform()
    if impl == "auto":
        for name in AUTO_ORDER.get(backend, ("xla",)):
            if name in IMPLEMENTATIONS and _available(name, backend):
                return name
        return "xla"
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown attention impl {impl!r}; "
                         f"expected one of {sorted(IMPLEMENTATIONS.names()) + ['auto']}")
    interpretable = IMPLEMENTATIONS.meta(impl).get("interpretable", False)
    if not _available(impl, backend) and not (interpret and interpretable):
        ok = [n for n in IMPLEMENTATIONS.names() if _available(n, backend)]
        hint = (f"; to test the Pallas kernels on {backend!r} run them in interpret mode: "
                f"impl={impl!r}, interpret='gpu' or interpret='tpu'") if interpretable else ""
        raise ValueError(f"attention impl {impl!r} cannot run on backend {backend!r}; "
                         f"available here: {ok + ['auto']}{hint}")
    return impl


def attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo | None = None, *, impl: str = "xla",
              scale: float | None = None, **kwargs):
    """Attention under the mask rule. `kv_info` defaults to `q_info` (self-attention)."""
    kv_info = q_info if kv_info is None else kv_info
    name = resolve_impl(impl, interpret=kwargs.get("interpret"))
    return IMPLEMENTATIONS.get(name)(q, k, v, q_info, kv_info, scale=scale, **kwargs)


def cache_info(kv_info: MaskInfo, lengths) -> MaskInfo:
    """Marks cache slots at or past `lengths` [B] as empty (segment 0)."""
    slot = jnp.arange(kv_info.segment_ids.shape[1])[None, :]
    seg = jnp.where(slot < jnp.asarray(lengths)[:, None], kv_info.segment_ids, 0)
    return MaskInfo(seg, kv_info.positions, kv_info.span_ids)


def decode_attention(q, k_cache, v_cache, q_info: MaskInfo, kv_info: MaskInfo, *, lengths=None,
                     impl: str = "auto", **kwargs):
    """Attention of new queries q [B, n, H, D] against a cache [B, S, Hkv, D] of `lengths` [B] slots.

    `kv_info` describes the cache slots; slots at or past `lengths` are ignored. Any impl works;
    'pallas' takes the folded-heads kernel path automatically (see omni.kernels.dispatch).
    """
    if lengths is not None:
        kv_info = cache_info(kv_info, lengths)
    return attention(q, k_cache, v_cache, q_info, kv_info, impl=impl, **kwargs)
