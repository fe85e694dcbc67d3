"""Block-sparse flash attention for GPU (Pallas, Triton lowering): forward, dq and dk/dv kernels.

Layout: q [B, Lq, H, D], k/v [B, Lk, Hkv, D] (the model's own layout: no transposes); lengths already
padded to the block sizes, blocks powers of two >= 16. One program per (q block, batch, head) loops
over exactly the visible kv blocks listed in its row of the schedule table [B, n_rows, 2 + n_cols]
(n_full, n_vis, then block ids): FULL tiles first without a mask, then PARTIAL tiles with the rule.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from omni.kernels.block_mask import Schedule, tile_mask

NEG = -1e30
LOG2E = math.log2(math.e)
_NT = (((1,), (1,)), ((), ()))  # a @ b.T
_NN = (((1,), (0,)), ((), ()))  # a @ b
_TN = (((0,), (0,)), ((), ()))  # a.T @ b


def table(sched: Schedule) -> jax.Array:
    """[B, R, 2 + C] int32: per row (n_full, n_vis, visible column blocks...)."""
    return jnp.concatenate([sched.n_full[..., None], sched.n_vis[..., None], sched.index], -1)


def _dot(a, b, dims):
    prec = lax.Precision.HIGHEST if a.dtype == jnp.float32 else None
    return lax.dot_general(a, b, dims, precision=prec, preferred_element_type=jnp.float32)


def _params(num_warps, num_stages):
    return plgpu.CompilerParams(num_warps=num_warps, num_stages=num_stages)


def _loop(tab_ref, body, carry, n=0):
    """FULL tiles (unmasked) then PARTIAL tiles (masked), as listed in this program's table row.

    Returns (carry, n + the number of tiles computed), counted by the loop itself.
    """
    def counted(masked, s, c):
        return body(masked, s, c[0]), c[1] + 1

    n_full, n_vis = tab_ref[0], tab_ref[1]
    c = lax.fori_loop(0, n_full, functools.partial(counted, False), (carry, jnp.asarray(n, jnp.int32)))
    return lax.fori_loop(n_full, n_vis, functools.partial(counted, True), c)


def _fwd_kernel(tab_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, o_ref, lse_ref, *cnt_ref, scale, block_k):
    q = q_ref[...]
    bq = q.shape[0]
    qseg, qpos, qspan = qi_ref[0, :][:, None], qi_ref[1, :][:, None], qi_ref[2, :][:, None]
    c = scale * LOG2E  # base-2 softmax: exp2 is the native instruction

    def body(masked, s, carry):
        acc, m, lsum = carry
        start = pl.multiple_of(tab_ref[s + 2] * block_k, block_k)
        k, v = k_ref[pl.ds(start, block_k), :], v_ref[pl.ds(start, block_k), :]
        logits = _dot(q, k, _NT) * c                                 # [bq, bk]
        if masked:
            mask = tile_mask(qseg, qpos, qspan, ki_ref[0, pl.ds(start, block_k)][None, :],
                             ki_ref[1, pl.ds(start, block_k)][None, :],
                             ki_ref[2, pl.ds(start, block_k)][None, :])
            logits = jnp.where(mask, logits, NEG)
        m_next = jnp.maximum(m, jnp.max(logits, axis=1))
        p = jnp.exp2(logits - m_next[:, None])
        if masked:
            p = jnp.where(mask, p, 0.0)
        alpha = jnp.exp2(m - m_next)
        acc = acc * alpha[:, None] + _dot(p.astype(v.dtype), v, _NN)
        return acc, m_next, lsum * alpha + jnp.sum(p, axis=1)

    init = (jnp.zeros(q.shape, jnp.float32), jnp.full((bq,), NEG, jnp.float32), jnp.zeros((bq,), jnp.float32))
    (acc, m, lsum), n = _loop(tab_ref, body, init)
    empty = lsum == 0.0                                                  # no visible key -> zeros
    l_safe = jnp.where(empty, 1.0, lsum)
    o_ref[...] = (acc / l_safe[:, None]).astype(o_ref.dtype)
    lse_ref[...] = jnp.where(empty, 0.0, (m + jnp.log2(l_safe)) / LOG2E)  # natural log
    if cnt_ref:
        cnt_ref[0][...] = jnp.full((1,), n, jnp.int32)


def _dq_kernel(tab_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, do_ref, lse_ref, dl_ref, dq_ref, *cnt_ref,
               scale, block_k):
    q, do = q_ref[...], do_ref[...]
    lse2, delta = lse_ref[...] * LOG2E, dl_ref[...]
    qseg, qpos, qspan = qi_ref[0, :][:, None], qi_ref[1, :][:, None], qi_ref[2, :][:, None]

    def body(masked, s, dq):
        start = pl.multiple_of(tab_ref[s + 2] * block_k, block_k)
        k, v = k_ref[pl.ds(start, block_k), :], v_ref[pl.ds(start, block_k), :]
        p = jnp.exp2(_dot(q, k, _NT) * (scale * LOG2E) - lse2[:, None])
        if masked:
            p = jnp.where(tile_mask(qseg, qpos, qspan, ki_ref[0, pl.ds(start, block_k)][None, :],
                                    ki_ref[1, pl.ds(start, block_k)][None, :],
                                    ki_ref[2, pl.ds(start, block_k)][None, :]), p, 0.0)
        ds = p * (_dot(do, v, _NT) - delta[:, None])
        return dq + _dot(ds.astype(k.dtype), k, _NN)

    dq, n = _loop(tab_ref, body, jnp.zeros(q.shape, jnp.float32))
    dq_ref[...] = (dq * scale).astype(dq_ref.dtype)
    if cnt_ref:
        cnt_ref[0][...] = jnp.full((1,), n, jnp.int32)


def _dkv_kernel(tab_ref, q_ref, k_ref, v_ref, qi_ref, ki_ref, do_ref, lse_ref, dl_ref, dk_ref, dv_ref,
                *cnt_ref, scale, block_q, groups):
    k, v = k_ref[...], v_ref[...]
    kseg, kpos, kspan = ki_ref[0, :][None, :], ki_ref[1, :][None, :], ki_ref[2, :][None, :]

    def body(g, masked, s, carry):
        dk, dv = carry
        start = pl.multiple_of(tab_ref[s + 2] * block_q, block_q)
        q, do = q_ref[pl.ds(start, block_q), g, :], do_ref[pl.ds(start, block_q), g, :]
        lse2, delta = lse_ref[g, pl.ds(start, block_q)] * LOG2E, dl_ref[g, pl.ds(start, block_q)]
        p = jnp.exp2(_dot(q, k, _NT) * (scale * LOG2E) - lse2[:, None])          # [bq, bk]
        if masked:
            p = jnp.where(tile_mask(qi_ref[0, pl.ds(start, block_q)][:, None],
                                    qi_ref[1, pl.ds(start, block_q)][:, None],
                                    qi_ref[2, pl.ds(start, block_q)][:, None], kseg, kpos, kspan), p, 0.0)
        dv = dv + _dot(p.astype(do.dtype), do, _TN)
        ds = p * (_dot(do, v, _NT) - delta[:, None])
        return dk + _dot(ds.astype(q.dtype), q, _TN), dv

    def head(g, c):
        return _loop(tab_ref, functools.partial(body, g), c[0], c[1])

    zeros = jnp.zeros(k.shape, jnp.float32)
    (dk, dv), n = lax.fori_loop(0, groups, head, ((zeros, zeros), jnp.int32(0)))
    dk_ref[...] = (dk * scale).astype(dk_ref.dtype)
    dv_ref[...] = dv.astype(dv_ref.dtype)
    if cnt_ref:
        cnt_ref[0][...] = jnp.full((1,), n, jnp.int32)


def forward(q, k, v, qi, ki, sched: Schedule, *, scale, block_q, block_k, interpret=False, count=False,
            num_warps=4, num_stages=2):
    """q [B,Lq,H,D], k/v [B,Lk,Hkv,D], qi [B,3,Lq], ki [B,3,Lk] -> (o, lse [B,H,Lq][, counts [B,H,nq]])."""
    B, Lq, H, D = q.shape
    Lk, Hkv = k.shape[1], k.shape[2]
    G, nq, nk = H // Hkv, Lq // block_q, Lk // block_k
    in_specs = [
        pl.BlockSpec((None, None, nk + 2), lambda i, b, h: (b, i, 0)),
        pl.BlockSpec((None, block_q, None, D), lambda i, b, h: (b, i, h, 0)),
        pl.BlockSpec((None, Lk, None, D), lambda i, b, h: (b, 0, h // G, 0)),
        pl.BlockSpec((None, Lk, None, D), lambda i, b, h: (b, 0, h // G, 0)),
        pl.BlockSpec((None, 3, block_q), lambda i, b, h: (b, 0, i)),
        pl.BlockSpec((None, 3, Lk), lambda i, b, h: (b, 0, 0)),
    ]
    out_shape = [jax.ShapeDtypeStruct(q.shape, q.dtype), jax.ShapeDtypeStruct((B, H, Lq), jnp.float32)]
    out_specs = [pl.BlockSpec((None, block_q, None, D), lambda i, b, h: (b, i, h, 0)),
                 pl.BlockSpec((None, None, block_q), lambda i, b, h: (b, h, i))]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, H, nq), jnp.int32))
        out_specs.append(pl.BlockSpec((None, None, 1), lambda i, b, h: (b, h, i)))
    return tuple(pl.pallas_call(
        functools.partial(_fwd_kernel, scale=scale, block_k=block_k), out_shape=out_shape,
        grid=(nq, B, H), in_specs=in_specs, out_specs=out_specs, interpret=bool(interpret),
        compiler_params=_params(num_warps, num_stages), name="omni_flash_fwd_gpu",
    )(table(sched), q, k, v, qi, ki))


def backward(q, k, v, qi, ki, do, lse, delta, sched_q: Schedule, sched_k: Schedule, *, scale, block_q,
             block_k, interpret=False, count=False, num_warps=4, num_stages=2):
    """Gradients (dq, dk, dv[, dq_counts, dkv_counts]); lse/delta [B, H, Lq] float32."""
    B, Lq, H, D = q.shape
    Lk, Hkv = k.shape[1], k.shape[2]
    G, nq, nk = H // Hkv, Lq // block_q, Lk // block_k
    params = _params(num_warps, num_stages)

    q_spec = pl.BlockSpec((None, block_q, None, D), lambda i, b, h: (b, i, h, 0))
    kv_spec = pl.BlockSpec((None, Lk, None, D), lambda i, b, h: (b, 0, h // G, 0))
    row_spec = pl.BlockSpec((None, None, block_q), lambda i, b, h: (b, h, i))
    out_shape, out_specs = [jax.ShapeDtypeStruct(q.shape, q.dtype)], [q_spec]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, H, nq), jnp.int32))
        out_specs.append(pl.BlockSpec((None, None, 1), lambda i, b, h: (b, h, i)))
    dq_outs = pl.pallas_call(
        functools.partial(_dq_kernel, scale=scale, block_k=block_k), out_shape=out_shape, grid=(nq, B, H),
        in_specs=[pl.BlockSpec((None, None, nk + 2), lambda i, b, h: (b, i, 0)), q_spec, kv_spec, kv_spec,
                  pl.BlockSpec((None, 3, block_q), lambda i, b, h: (b, 0, i)),
                  pl.BlockSpec((None, 3, Lk), lambda i, b, h: (b, 0, 0)), q_spec, row_spec, row_spec],
        out_specs=out_specs, interpret=bool(interpret), compiler_params=params, name="omni_flash_dq_gpu",
    )(table(sched_q), q, k, v, qi, ki, do, lse, delta)

    # dk/dv: one program per (kv block, batch, kv head) sums over its G query heads.
    kv_spec = pl.BlockSpec((None, block_k, None, D), lambda j, b, h: (b, j, h, 0))
    qg_spec = pl.BlockSpec((None, Lq, G, D), lambda j, b, h: (b, 0, h, 0))
    rows_spec = pl.BlockSpec((None, G, Lq), lambda j, b, h: (b, h, 0))
    out_shape = [jax.ShapeDtypeStruct(k.shape, k.dtype), jax.ShapeDtypeStruct(v.shape, v.dtype)]
    out_specs = [kv_spec, kv_spec]
    if count:
        out_shape.append(jax.ShapeDtypeStruct((B, Hkv, nk), jnp.int32))
        out_specs.append(pl.BlockSpec((None, None, 1), lambda j, b, h: (b, h, j)))
    dkv_outs = pl.pallas_call(
        functools.partial(_dkv_kernel, scale=scale, block_q=block_q, groups=G), out_shape=out_shape,
        grid=(nk, B, Hkv),
        in_specs=[pl.BlockSpec((None, None, nq + 2), lambda j, b, h: (b, j, 0)), qg_spec, kv_spec, kv_spec,
                  pl.BlockSpec((None, 3, Lq), lambda j, b, h: (b, 0, 0)),
                  pl.BlockSpec((None, 3, block_k), lambda j, b, h: (b, 0, j)), qg_spec, rows_spec, rows_spec],
        out_specs=out_specs, interpret=bool(interpret), compiler_params=params, name="omni_flash_dkv_gpu",
    )(table(sched_k), q, k, v, qi, ki, do, lse, delta)
    if count:
        return dq_outs[0], dkv_outs[0], dkv_outs[1], dq_outs[1], dkv_outs[2]
    return dq_outs[0], dkv_outs[0], dkv_outs[1]
