"""The attention interface: one mask rule, several implementations.

Mask rule (shared by the XLA reference and every kernel): query i sees key j iff

    seg_q[i] == seg_k[j] != 0  and  (pos_k[j] <= pos_q[i]  or  span_q[i] == span_k[j] != 0)

`segment_ids` separate packed examples (0 = padding), `positions` order tokens inside a segment
(for self-attention on a packed row this is the same as j <= i), `span_ids` mark bidirectional
spans (a conditioning image/audio/video). A query row with no visible key outputs zeros.

Shapes: q [B, Lq, H, D], k/v [B, Lk, Hkv, D] with H a multiple of Hkv (grouped-query attention).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from omni import sharding


class MaskInfo(NamedTuple):
    """Per-token mask metadata for queries or keys: each [B, L] int32."""

    segment_ids: jax.Array
    positions: jax.Array
    span_ids: jax.Array


def visible(q: MaskInfo, k: MaskInfo) -> jax.Array:
    """[B, Lq, Lk] bool: the mask rule evaluated densely (reference / small shapes only)."""
    qs, ks = q.segment_ids[:, :, None], k.segment_ids[:, None, :]
    same_seg = (qs == ks) & (qs != 0)
    causal = k.positions[:, None, :] <= q.positions[:, :, None]
    qsp, ksp = q.span_ids[:, :, None], k.span_ids[:, None, :]
    same_span = (qsp == ksp) & (qsp != 0)
    return same_seg & (causal | same_span)


def xla_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, scale: float | None = None):
    """Reference attention in plain XLA ops (materializes [B, H, Lq, Lk] logits)."""
    B, Lq, H, D = q.shape
    Hkv = k.shape[2]
    if H % Hkv:
        raise ValueError(f"query heads ({H}) must be a multiple of key/value heads ({Hkv})")
    G = H // Hkv
    scale = D ** -0.5 if scale is None else scale
    qg = q.reshape(B, Lq, Hkv, G, D)
    logits = jnp.einsum("bqhgd,bkhd->bhgqk", qg, k, preferred_element_type=jnp.float32) * scale
    mask = visible(q_info, kv_info)[:, None, None, :, :]
    logits = jnp.where(mask, logits, -1e30)
    m = jnp.max(logits, axis=-1, keepdims=True)
    p = jnp.where(mask, jnp.exp(logits - m), 0.0)
    denom = jnp.sum(p, axis=-1, keepdims=True)
    p = p / jnp.where(denom == 0, 1.0, denom)  # fully masked rows -> zeros, never NaN
    out = jnp.einsum("bhgqk,bkhd->bqhgd", p.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return out.reshape(B, Lq, H, D).astype(q.dtype)


# name -> implementation with the same signature as xla_attention (plus **kwargs for block sizes).
_IMPLS: dict[str, Callable] = {"xla": xla_attention}
# name -> predicate(backend) telling whether the implementation runs on that backend.
_AVAILABLE: dict[str, Callable[[str], bool]] = {"xla": lambda backend: True}
# backend -> preference order for impl="auto".
_AUTO_ORDER: dict[str, tuple[str, ...]] = {"tpu": ("pallas", "xla"), "gpu": ("pallas", "cudnn", "xla"),
                                           "cpu": ("xla",)}


# names of implementations that can also run on CPU in Pallas interpret mode (tests): `interpret=...`.
_INTERPRETABLE: set[str] = set()


def register(name: str, fn: Callable, available: Callable[[str], bool], *, interpretable: bool = False):
    """Registers an attention implementation (the kernels package calls this on import)."""
    _IMPLS[name] = fn
    _AVAILABLE[name] = available
    if interpretable:
        _INTERPRETABLE.add(name)


def _load_kernels():
    try:
        import omni.kernels  # noqa: F401  (registers pallas / cudnn)
    except ImportError:
        pass


def resolve_impl(impl: str, backend: str | None = None, *, interpret=None) -> str:
    """The implementation `impl` names on `backend` (default: the platform the traced program targets, see
    `omni.sharding.target_platform`: a TPU mesh's when compiling ahead of time for a TPU from a CPU host)."""
    _load_kernels()
    backend = backend or sharding.target_platform()
    if impl == "auto":
        for name in _AUTO_ORDER.get(backend, ("xla",)):
            if name in _IMPLS and _AVAILABLE[name](backend):
                return name
        return "xla"
    if impl not in _IMPLS:
        raise ValueError(f"unknown attention impl {impl!r}; expected one of {sorted(_IMPLS) + ['auto']}")
    if not _AVAILABLE[impl](backend) and not (interpret and impl in _INTERPRETABLE):
        ok = [n for n in _IMPLS if _AVAILABLE[n](backend)]
        hint = (f"; to test the Pallas kernels on {backend!r} run them in interpret mode: "
                f"impl={impl!r}, interpret='gpu' or interpret='tpu'") if impl in _INTERPRETABLE else ""
        raise ValueError(f"attention impl {impl!r} cannot run on backend {backend!r}; "
                         f"available here: {ok + ['auto']}{hint}")
    return impl


def attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo | None = None, *, impl: str = "xla",
              scale: float | None = None, **kwargs):
    """Attention under the mask rule. `kv_info` defaults to `q_info` (self-attention)."""
    kv_info = q_info if kv_info is None else kv_info
    name = resolve_impl(impl, interpret=kwargs.get("interpret"))
    return _IMPLS[name](q, k, v, q_info, kv_info, scale=scale, **kwargs)
