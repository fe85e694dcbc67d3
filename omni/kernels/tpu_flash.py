"""Block-sparse flash attention for TPU (Pallas Mosaic): forward, dq and dk/dv kernels.

Layout inside: q [B, H, Lq, D], k/v [B, Hkv, Lk, D]; lengths already padded to the block sizes.
The per-q-block list of visible kv blocks (block_mask.schedule) is scalar-prefetched into SMEM and
drives the kv BlockSpec index_map, so skipped tiles cost neither a copy nor compute: grid steps past
the list repeat the last block index (no DMA) and do nothing.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from omni.kernels.block_mask import Schedule, tile_mask

NEG = -1e30            # finite "minus infinity": exp(NEG - NEG) never produces NaN
LANES = 128            # m / l scratch are lane-replicated, as Mosaic likes them
_NT = (((1,), (1,)), ((), ()))  # a @ b.T


def _interpret_arg(interpret):
    """False on a TPU; `pltpu.InterpretParams` (TPU interpret mode on CPU) when truthy."""
    if not interpret:
        return False
    return interpret if isinstance(interpret, pltpu.InterpretParams) else pltpu.InterpretParams()


def _tile_mask(qi_ref, ki_ref):
    """qi_ref [bq, 3], ki_ref [3, bk] (segment, position, span) -> [bq, bk] bool."""
    qi, ki = qi_ref[...], ki_ref[...]
    return tile_mask(qi[:, 0:1], qi[:, 1:2], qi[:, 2:3], ki[0:1, :], ki[1:2, :], ki[2:3, :])


def _bump(cnt_ref, first):
    """Debug counter of computed tiles (one [8, 128] int32 tile per output block)."""
    if cnt_ref is not None:
        @pl.when(first)
        def _():
            cnt_ref[...] = jnp.zeros_like(cnt_ref)


def _run_tiles(step, s, n_full, n_vis, cnt_ref):
    """Runs `step(masked)` for FULL (s < n_full) or PARTIAL (n_full <= s < n_vis) steps."""
    @pl.when(s < n_full)
    def _():
        step(False)
        if cnt_ref is not None:
            cnt_ref[...] += 1

    @pl.when((s >= n_full) & (s < n_vis))
    def _():
        step(True)
        if cnt_ref is not None:
            cnt_ref[...] += 1


def _fwd_kernel(idx_ref, nf_ref, nv_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, o_ref, lse_ref, *rest,
                scale, nq, nk, count):
    cnt_ref = rest[0] if count else None
    m_sc, l_sc, acc_sc = rest[-3:]
    b, i, s = pl.program_id(0), pl.program_id(2), pl.program_id(3)
    t = b * nq + i

    @pl.when(s == 0)
    def _():
        m_sc[...] = jnp.full_like(m_sc, NEG)
        l_sc[...] = jnp.zeros_like(l_sc)
        acc_sc[...] = jnp.zeros_like(acc_sc)
    _bump(cnt_ref, s == 0)

    def step(masked):
        q, k, v = q_ref[...], k_ref[...], v_ref[...]
        logits = lax.dot_general(q, k, _NT, preferred_element_type=jnp.float32) * scale  # [bq, bk]
        if masked:
            mask = _tile_mask(qi_ref, ki_ref)
            logits = jnp.where(mask, logits, NEG)
        m_prev = m_sc[...]                                     # [bq, LANES]
        m_next = jnp.maximum(m_prev, jnp.max(logits, axis=-1, keepdims=True))
        p = jnp.exp(logits - m_next[:, :1])
        if masked:
            p = jnp.where(mask, p, 0.0)
        alpha = jnp.exp(m_prev - m_next)
        l_sc[...] = alpha * l_sc[...] + jnp.sum(p, axis=-1, keepdims=True)
        pv = lax.dot_general(p.astype(v.dtype), v, (((1,), (0,)), ((), ())),
                             preferred_element_type=jnp.float32)
        acc_sc[...] = alpha[:, :1] * acc_sc[...] + pv
        m_sc[...] = m_next

    _run_tiles(step, s, nf_ref[t], nv_ref[t], cnt_ref)

    @pl.when(s == nk - 1)
    def _():
        lsum = l_sc[...][:, :1]
        empty = lsum == 0.0                                   # row with no visible key -> zeros
        l_safe = jnp.where(empty, 1.0, lsum)
        o_ref[...] = (acc_sc[...] / l_safe).astype(o_ref.dtype)
        lse_ref[...] = jnp.where(empty, 0.0, m_sc[...][:, :1] + jnp.log(l_safe))


def _dq_kernel(idx_ref, nf_ref, nv_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, do_ref, lse_ref, dl_ref,
               dq_ref, *rest, scale, nq, nk, count):
    cnt_ref = rest[0] if count else None
    dq_sc = rest[-1]
    b, i, s = pl.program_id(0), pl.program_id(2), pl.program_id(3)
    t = b * nq + i

    @pl.when(s == 0)
    def _():
        dq_sc[...] = jnp.zeros_like(dq_sc)
    _bump(cnt_ref, s == 0)

    def step(masked):
        q, k, v, do = q_ref[...], k_ref[...], v_ref[...], do_ref[...]
        logits = lax.dot_general(q, k, _NT, preferred_element_type=jnp.float32) * scale
        p = jnp.exp(logits - lse_ref[...])
        if masked:
            p = jnp.where(_tile_mask(qi_ref, ki_ref), p, 0.0)
        dp = lax.dot_general(do, v, _NT, preferred_element_type=jnp.float32)
        ds = p * (dp - dl_ref[...])
        dq_sc[...] += lax.dot_general(ds.astype(k.dtype), k, (((1,), (0,)), ((), ())),
                                      preferred_element_type=jnp.float32) * scale

    _run_tiles(step, s, nf_ref[t], nv_ref[t], cnt_ref)

    @pl.when(s == nk - 1)
    def _():
        dq_ref[...] = dq_sc[...].astype(dq_ref.dtype)


def _dkv_kernel(idx_ref, nf_ref, nv_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, do_ref, lse_ref, dl_ref,
                dk_ref, dv_ref, *rest, scale, nq, nk, groups, count):
    cnt_ref = rest[0] if count else None
    dk_sc, dv_sc = rest[-2:]
    b, j, g, s = pl.program_id(0), pl.program_id(2), pl.program_id(3), pl.program_id(4)
    t = b * nk + j

    @pl.when((g == 0) & (s == 0))
    def _():
        dk_sc[...] = jnp.zeros_like(dk_sc)
        dv_sc[...] = jnp.zeros_like(dv_sc)
    _bump(cnt_ref, (g == 0) & (s == 0))

    def step(masked):
        q, k, v, do = q_ref[...], k_ref[...], v_ref[...], do_ref[...]
        logits = lax.dot_general(q, k, _NT, preferred_element_type=jnp.float32) * scale  # [bq, bk]
        p = jnp.exp(logits - lse_ref[...])
        if masked:
            p = jnp.where(_tile_mask(qi_ref, ki_ref), p, 0.0)
        dv_sc[...] += lax.dot_general(p.T.astype(do.dtype), do, (((1,), (0,)), ((), ())),
                                      preferred_element_type=jnp.float32)
        dp = lax.dot_general(do, v, _NT, preferred_element_type=jnp.float32)
        ds = p * (dp - dl_ref[...])
        dk_sc[...] += lax.dot_general(ds.T.astype(q.dtype), q, (((1,), (0,)), ((), ())),
                                      preferred_element_type=jnp.float32) * scale

    _run_tiles(step, s, nf_ref[t], nv_ref[t], cnt_ref)

    @pl.when((g == groups - 1) & (s == nq - 1))
    def _():
        dk_ref[...] = dk_sc[...].astype(dk_ref.dtype)
        dv_ref[...] = dv_sc[...].astype(dv_ref.dtype)


def _flat(sched: Schedule):
    return sched.index.reshape(-1), sched.n_full.reshape(-1), sched.n_vis.reshape(-1)


def _count_spec(index_map):
    return pl.BlockSpec((None, None, 8, LANES), index_map)


def _params(semantics, vmem_limit):
    return pltpu.CompilerParams(dimension_semantics=semantics, vmem_limit_bytes=vmem_limit)


def forward(q, k, v, qi, ki, sched: Schedule, *, scale, block_q, block_k, interpret=False, count=False,
            vmem_limit=None):
    """q [B,H,Lq,D], k/v [B,Hkv,Lk,D], qi [B,Lq,3], ki [B,3,Lk] -> (o, lse [B,H,Lq,1][, counts])."""
    B, H, Lq, D = q.shape
    Hkv, Lk = k.shape[1], k.shape[2]
    G, nq, nk = H // Hkv, Lq // block_q, Lk // block_k
    kv_at = lambda b, i, s, idx: idx[(b * nq + i) * nk + s]  # noqa: E731
    kv_spec = pl.BlockSpec((None, None, block_k, D),
                           lambda b, h, i, s, idx, nf, nv: (b, lax.div(h, G), kv_at(b, i, s, idx), 0))
    in_specs = [
        pl.BlockSpec((None, None, block_q, D), lambda b, h, i, s, idx, nf, nv: (b, h, i, 0)),
        kv_spec, kv_spec,
        pl.BlockSpec((None, block_q, 3), lambda b, h, i, s, idx, nf, nv: (b, i, 0)),
        pl.BlockSpec((None, 3, block_k), lambda b, h, i, s, idx, nf, nv: (b, 0, kv_at(b, i, s, idx))),
    ]
    out_shape = [jax.ShapeDtypeStruct(q.shape, q.dtype), jax.ShapeDtypeStruct((B, H, Lq, 1), jnp.float32)]
    out_specs = [pl.BlockSpec((None, None, block_q, D), lambda b, h, i, s, *_: (b, h, i, 0)),
                 pl.BlockSpec((None, None, block_q, 1), lambda b, h, i, s, *_: (b, h, i, 0))]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, H, nq * 8, LANES), jnp.int32))
        out_specs.append(_count_spec(lambda b, h, i, s, *_: (b, h, i, 0)))
    grid_spec = pltpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=3, grid=(B, H, nq, nk), in_specs=in_specs, out_specs=out_specs,
        scratch_shapes=[pltpu.VMEM((block_q, LANES), jnp.float32), pltpu.VMEM((block_q, LANES), jnp.float32),
                        pltpu.VMEM((block_q, D), jnp.float32)])
    kernel = functools.partial(_fwd_kernel, scale=scale, nq=nq, nk=nk, count=count)
    outs = pl.pallas_call(
        kernel, out_shape=out_shape, grid_spec=grid_spec, interpret=_interpret_arg(interpret),
        compiler_params=_params(("parallel", "parallel", "parallel", "arbitrary"), vmem_limit),
        name="omni_flash_fwd_tpu",
    )(*_flat(sched), q, k, v, qi, ki)
    return tuple(outs)


def backward(q, k, v, qi, ki, do, lse, delta, sched_q: Schedule, sched_k: Schedule, *, scale, block_q,
             block_k, interpret=False, count=False, vmem_limit=None):
    """Gradients (dq, dk, dv[, dq_counts, dkv_counts]); lse/delta [B, H, Lq, 1] float32."""
    B, H, Lq, D = q.shape
    Hkv, Lk = k.shape[1], k.shape[2]
    G, nq, nk = H // Hkv, Lq // block_q, Lk // block_k
    interp = _interpret_arg(interpret)
    scratch_dq = [pltpu.VMEM((block_q, D), jnp.float32)]

    # dq: same iteration as the forward pass (rows = q blocks).
    kv_at = lambda b, i, s, idx: idx[(b * nq + i) * nk + s]  # noqa: E731
    q_spec = pl.BlockSpec((None, None, block_q, D), lambda b, h, i, s, *_: (b, h, i, 0))
    row_spec = pl.BlockSpec((None, None, block_q, 1), lambda b, h, i, s, *_: (b, h, i, 0))
    kv_spec = pl.BlockSpec((None, None, block_k, D),
                           lambda b, h, i, s, idx, nf, nv: (b, lax.div(h, G), kv_at(b, i, s, idx), 0))
    in_specs = [q_spec, kv_spec, kv_spec,
                pl.BlockSpec((None, block_q, 3), lambda b, h, i, s, *_: (b, i, 0)),
                pl.BlockSpec((None, 3, block_k), lambda b, h, i, s, idx, nf, nv: (b, 0, kv_at(b, i, s, idx))),
                q_spec, row_spec, row_spec]
    out_shape = [jax.ShapeDtypeStruct(q.shape, q.dtype)]
    out_specs = [q_spec]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, H, nq * 8, LANES), jnp.int32))
        out_specs.append(_count_spec(lambda b, h, i, s, *_: (b, h, i, 0)))
    dq_outs = pl.pallas_call(
        functools.partial(_dq_kernel, scale=scale, nq=nq, nk=nk, count=count),
        out_shape=out_shape,
        grid_spec=pltpu.PrefetchScalarGridSpec(num_scalar_prefetch=3, grid=(B, H, nq, nk), in_specs=in_specs,
                                               out_specs=out_specs, scratch_shapes=scratch_dq),
        interpret=interp, name="omni_flash_dq_tpu",
        compiler_params=_params(("parallel", "parallel", "parallel", "arbitrary"), vmem_limit),
    )(*_flat(sched_q), q, k, v, qi, ki, do, lse, delta)

    # dk/dv: rows = kv blocks; reduce over the G query heads of the group and the visible q blocks.
    q_at = lambda b, j, s, idx: idx[(b * nk + j) * nq + s]  # noqa: E731
    q_spec = pl.BlockSpec((None, None, block_q, D),
                          lambda b, h, j, g, s, idx, nf, nv: (b, h * G + g, q_at(b, j, s, idx), 0))
    row_spec = pl.BlockSpec((None, None, block_q, 1),
                            lambda b, h, j, g, s, idx, nf, nv: (b, h * G + g, q_at(b, j, s, idx), 0))
    kv_spec = pl.BlockSpec((None, None, block_k, D), lambda b, h, j, g, s, *_: (b, h, j, 0))
    in_specs = [q_spec, kv_spec, kv_spec,
                pl.BlockSpec((None, block_q, 3), lambda b, h, j, g, s, idx, nf, nv: (b, q_at(b, j, s, idx), 0)),
                pl.BlockSpec((None, 3, block_k), lambda b, h, j, g, s, *_: (b, 0, j)),
                q_spec, row_spec, row_spec]
    out_shape = [jax.ShapeDtypeStruct(k.shape, k.dtype), jax.ShapeDtypeStruct(v.shape, v.dtype)]
    out_specs = [kv_spec, kv_spec]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, Hkv, nk * 8, LANES), jnp.int32))
        out_specs.append(_count_spec(lambda b, h, j, g, s, *_: (b, h, j, 0)))
    dkv_outs = pl.pallas_call(
        functools.partial(_dkv_kernel, scale=scale, nq=nq, nk=nk, groups=G, count=count),
        out_shape=out_shape,
        grid_spec=pltpu.PrefetchScalarGridSpec(
            num_scalar_prefetch=3, grid=(B, Hkv, nk, G, nq), in_specs=in_specs, out_specs=out_specs,
            scratch_shapes=[pltpu.VMEM((block_k, D), jnp.float32), pltpu.VMEM((block_k, D), jnp.float32)]),
        interpret=interp, name="omni_flash_dkv_tpu",
        compiler_params=_params(("parallel", "parallel", "parallel", "arbitrary", "arbitrary"), vmem_limit),
    )(*_flat(sched_k), q, k, v, qi, ki, do, lse, delta)
    dq = dq_outs[0]
    dk, dv = dkv_outs[0], dkv_outs[1]
    if count:
        return dq, dk, dv, dq_outs[1], dkv_outs[2]
    return dq, dk, dv
