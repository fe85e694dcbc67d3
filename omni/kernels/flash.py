"""Flash attention under `jax.custom_vjp` on top of the TPU or GPU Pallas kernels.

`flash_attention(q, k, v, q_info, kv_info, platform=...)` pads lengths to the block sizes (padding
tokens get segment 0, so they are masked and their tiles skipped), builds the block schedules from
per-block min/max statistics and runs the forward kernel; the backward pass recomputes attention
probabilities from the saved log-sum-exp (O(L) memory) in a dq kernel and a dk/dv kernel.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from omni.attention_ref import MaskInfo
from omni.kernels import gpu_flash, tpu_flash
from omni.kernels.block_mask import pad_info, tile_schedules

PLATFORMS = ("tpu", "gpu")


@dataclasses.dataclass(frozen=True)
class BlockSizes:
    """Tile sizes: forward (block_q x block_k) and backward (defaults to the forward sizes)."""

    block_q: int = 128
    block_k: int = 128
    block_q_bwd: int | None = None
    block_k_bwd: int | None = None


# GPU: starting points, not tuned on hardware (no GPU here); backward tiles are smaller because the
# dq/dk/dv accumulators and p/ds live in registers. TPU: chosen per chip generation by `tpu_blocks`.
GPU_BLOCKS = BlockSizes(128, 64, 64, 64)
TPU_LANES, TPU_SUBLANES = 128, 8
# TPU tile candidates, largest first: fewer, larger grid steps amortise each step's fixed cost (~0.35 us).
TPU_TILE_CANDIDATES = ((1024, 1024), (1024, 512), (512, 512), (512, 256), (256, 256), (256, 128), (128, 128))


def tpu_vmem_bytes(bq: int, bk: int, head_dim: int, itemsize: int) -> int:
    """VMEM (bytes) the hungrier of the forward and dq TPU kernels needs at tiles bq x bk.

    Fitted to the TPU compiler's own accounting (libtpu 0.0.42, v4, 'Used N of 16M vmem' at tiles up to
    2048 x 2048; docs/attention.md): the forward keeps about two float32 [bq, bk] temporaries live
    (8.2 B per tile element), plus per q row its double-buffered q/o blocks, lane-padded mask info,
    log-sum-exp and m/l/acc scratch (44 B per lane of head_dim), plus per kv row its k/v blocks (8.5 B per
    lane); the dq kernel has fewer temporaries (3 B per element) and more per-row buffers (88 / 9 B per
    lane). head_dim is padded to the 128 lanes; the dk/dv kernel compiled within both at every tile tried.
    Overestimates slightly (forward at head_dim 256, 1024 x 1024: 21.3 MiB estimated, 19.5 MiB measured).
    """
    lanes = max(head_dim, TPU_LANES) * itemsize / 2
    fwd = 8.2 * bq * bk + (44 * bq + 8.5 * bk) * lanes
    dq = 3.0 * bq * bk + (88 * bq + 9 * bk) * lanes
    return int(max(fwd, dq))


def tpu_blocks(chip, head_dim: int, itemsize: int) -> BlockSizes:
    """The largest candidate tiles whose VMEM estimate uses at most 3/4 of the chip's default scoped VMEM
    limit (16 MiB on v4/v5e/v5p, 32 MiB on v6e); `chip`: an `omni.chips.TpuChip` (None: the 16 MiB case)."""
    budget = (chip.scoped_vmem_bytes if chip else 16 << 20) * 3 // 4
    for bq, bk in TPU_TILE_CANDIDATES:
        if tpu_vmem_bytes(bq, bk, head_dim, itemsize) <= budget:
            return BlockSizes(bq, bk)
    return BlockSizes(TPU_SUBLANES * 16, TPU_LANES)


def default_blocks(platform: str, chip=None, head_dim: int = 128, itemsize: int = 2) -> BlockSizes:
    return GPU_BLOCKS if platform == "gpu" else tpu_blocks(chip, head_dim, itemsize)


@dataclasses.dataclass(frozen=True)
class _Cfg:
    platform: str
    scale: float
    bq: int
    bk: int
    bq_bwd: int
    bk_bwd: int
    interpret: Any
    num_warps: int
    num_stages: int
    vmem_limit: int | None = None  # TPU: CompilerParams.vmem_limit_bytes when the tiles need more than the default


def _fit(block: int, length: int, platform: str, *, kv: bool) -> int:
    """Clamps a block size to the (padded) length and checks the platform's constraints.

    GPU (Triton): powers of two >= 16. TPU (Mosaic): a block's last two dimensions must be multiples of
    8 (sublanes) and 128 (lanes): q tiles appear as rows (multiple of 8), kv tiles also as the lane
    dimension of the [3, bk] mask info and the [bq, bk] logits (multiple of 128)."""
    if block <= 0:
        raise ValueError(f"block sizes must be positive, got {block}")
    if platform == "gpu":
        if block < 16 or block & (block - 1):
            raise ValueError(f"GPU (Triton) block sizes must be powers of two >= 16, got {block}")
        return min(block, max(16, 1 << (length - 1).bit_length()))
    unit, what = (TPU_LANES, "kv block sizes must be multiples of 128 (lanes)") if kv else (
        TPU_SUBLANES, "q block sizes must be multiples of 8 (sublanes)")
    if block % unit:
        raise ValueError(f"TPU (Mosaic) {what}, got {block}")
    return min(block, -(-length // unit) * unit)


def make_cfg(platform, Lq, Lk, D, *, scale=None, block_sizes: BlockSizes | None = None, interpret=False,
             num_warps: int | None = None, num_stages: int = 2, chip=None, itemsize: int = 2) -> _Cfg:
    """Tiles and compiler settings; `chip` (an `omni.chips.TpuChip`) sizes TPU tiles and VMEM limits."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    bs = block_sizes or default_blocks(platform, chip, D, itemsize)
    num_warps = num_warps or (8 if D >= 128 else 4)
    scale = D ** -0.5 if scale is None else float(scale)
    cfg = _Cfg(platform, scale, _fit(bs.block_q, Lq, platform, kv=False), _fit(bs.block_k, Lk, platform, kv=True),
               _fit(bs.block_q_bwd or bs.block_q, Lq, platform, kv=False),
               _fit(bs.block_k_bwd or bs.block_k, Lk, platform, kv=True), interpret, num_warps, num_stages)
    if platform == "tpu":
        need = max(tpu_vmem_bytes(cfg.bq, cfg.bk, D, itemsize), tpu_vmem_bytes(cfg.bq_bwd, cfg.bk_bwd, D, itemsize))
        scoped = chip.scoped_vmem_bytes if chip else 16 << 20
        if need > scoped:
            physical = chip.vmem_bytes if chip else 16 << 20
            limit = min(physical, -(-need * 5 // 4 // (1 << 20)) << 20)
            if need > limit:
                raise ValueError(
                    f"TPU tiles ({cfg.bq}, {cfg.bk}) / backward ({cfg.bq_bwd}, {cfg.bk_bwd}) at head_dim {D} need "
                    f"about {need / 2**20:.0f} MiB of VMEM; {chip.name if chip else 'this chip'} has "
                    f"{physical / 2**20:.0f} MiB: use smaller block_sizes")
            cfg = dataclasses.replace(cfg, vmem_limit=limit)
    return cfg


def _info(x3: jax.Array) -> MaskInfo:
    return MaskInfo(x3[:, 0], x3[:, 1], x3[:, 2])


def _kw(cfg: _Cfg, bq, bk, count):
    kw = dict(scale=cfg.scale, block_q=bq, block_k=bk, interpret=cfg.interpret, count=count)
    if cfg.platform == "gpu":
        kw.update(num_warps=cfg.num_warps, num_stages=cfg.num_stages)
    else:
        kw.update(vmem_limit=cfg.vmem_limit)
    return kw


def _t(x):  # [B, L, H, D] <-> [B, H, L, D]
    return jnp.swapaxes(x, 1, 2)


def kernel_forward(cfg: _Cfg, q, k, v, qi3, ki3, *, count=False):
    """Runs the forward kernel: (o [B,Lq,H,D], lse [B,H,Lq][, tile counts [B,H,nq]])."""
    sched, _ = tile_schedules(_info(qi3), _info(ki3), cfg.bq, cfg.bk)
    if cfg.platform == "gpu":
        return gpu_flash.forward(q, k, v, qi3, ki3, sched, **_kw(cfg, cfg.bq, cfg.bk, count))
    outs = tpu_flash.forward(_t(q), _t(k), _t(v), jnp.swapaxes(qi3, 1, 2), ki3, sched,
                             **_kw(cfg, cfg.bq, cfg.bk, count))
    res = (_t(outs[0]), outs[1][..., 0])
    return res + ((outs[2][:, :, ::8, 0],) if count else ())


def kernel_backward(cfg: _Cfg, q, k, v, qi3, ki3, o, lse, do, *, count=False):
    """Runs the dq and dk/dv kernels: (dq, dk, dv[, dq tile counts, dkv tile counts])."""
    sq, sk = tile_schedules(_info(qi3), _info(ki3), cfg.bq_bwd, cfg.bk_bwd)
    delta = jnp.einsum("blhd,blhd->bhl", o.astype(jnp.float32), do.astype(jnp.float32))
    kw = _kw(cfg, cfg.bq_bwd, cfg.bk_bwd, count)
    if cfg.platform == "gpu":
        return gpu_flash.backward(q, k, v, qi3, ki3, do, lse, delta, sq, sk, **kw)
    outs = tpu_flash.backward(_t(q), _t(k), _t(v), jnp.swapaxes(qi3, 1, 2), ki3, _t(do), lse[..., None],
                              delta[..., None], sq, sk, **kw)
    res = (_t(outs[0]), _t(outs[1]), _t(outs[2]))
    return res + ((outs[3][:, :, ::8, 0], outs[4][:, :, ::8, 0]) if count else ())


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _flash(q, k, v, qi3, ki3, cfg):
    return kernel_forward(cfg, q, k, v, qi3, ki3)[0]


def _flash_fwd(q, k, v, qi3, ki3, cfg):
    o, lse = kernel_forward(cfg, q, k, v, qi3, ki3)[:2]
    return o, (q, k, v, qi3, ki3, o, lse)


def _flash_bwd(cfg, res, do):
    q, k, v, qi3, ki3, o, lse = res
    dq, dk, dv = kernel_backward(cfg, q, k, v, qi3, ki3, o, lse, do)
    return dq, dk, dv, None, None


_flash.defvjp(_flash_fwd, _flash_bwd)


def _round_up(n, m):
    return -(-n // m) * m


def prepare(cfg: _Cfg, q, k, v, q_info: MaskInfo, kv_info: MaskInfo):
    """Pads q/k/v and the mask info to block multiples; infos stacked as [B, 3, L] int32."""
    Lq, Lk = q.shape[1], k.shape[1]
    Lq_p = _round_up(Lq, math.lcm(cfg.bq, cfg.bq_bwd))
    Lk_p = _round_up(Lk, math.lcm(cfg.bk, cfg.bk_bwd))
    pad = lambda x, L: jnp.pad(x, ((0, 0), (0, L - x.shape[1]), (0, 0), (0, 0)))  # noqa: E731
    qi3 = jnp.stack(pad_info(q_info, Lq_p), 1)
    ki3 = jnp.stack(pad_info(kv_info, Lk_p), 1)
    return pad(q, Lq_p), pad(k, Lk_p), pad(v, Lk_p), qi3, ki3


def check_shapes(q, k, v, q_info: MaskInfo, kv_info: MaskInfo):
    if q.ndim != 4 or k.shape != v.shape or k.ndim != 4:
        raise ValueError(f"expected q [B, Lq, H, D] and k, v [B, Lk, Hkv, D]; got {q.shape}, {k.shape}, {v.shape}")
    B, Lq, H, D = q.shape
    if k.shape[0] != B or k.shape[3] != D or H % k.shape[2]:
        raise ValueError(f"k/v {k.shape} do not match q {q.shape} (same B and D, H a multiple of Hkv)")
    for name, info, L in (("q_info", q_info, Lq), ("kv_info", kv_info, k.shape[1])):
        for x in info:
            if x.shape != (B, L):
                raise ValueError(f"{name} fields must be [B, L] = {(B, L)}, got {x.shape}")


def flash_attention(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, platform: str, scale: float | None = None,
                    block_sizes: BlockSizes | None = None, interpret=False, num_warps: int | None = None,
                    num_stages: int = 2, chip=None):
    """Attention under the mask rule with the `platform` ('tpu' | 'gpu') Pallas kernels; differentiable.

    `chip` (an `omni.chips.TpuChip`, TPU only) chooses default tiles within that generation's VMEM."""
    check_shapes(q, k, v, q_info, kv_info)
    cfg = make_cfg(platform, q.shape[1], k.shape[1], q.shape[3], scale=scale, block_sizes=block_sizes,
                   interpret=interpret, num_warps=num_warps, num_stages=num_stages, chip=chip,
                   itemsize=jnp.dtype(q.dtype).itemsize)
    qp, kp, vp, qi3, ki3 = prepare(cfg, q, k, v, q_info, kv_info)
    return _flash(qp, kp, vp, qi3, ki3, cfg)[:, :q.shape[1]]


def run_kernels(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, do, *, platform: str, scale: float | None = None,
                block_sizes: BlockSizes | None = None, interpret=False, chip=None) -> dict:
    """Forward + backward kernels with their debug tile counters (tests, benchmarks).

    Returns o, lse, dq, dk, dv (unpadded) and the tiles each kernel computed, summed over the
    grid (`tiles_forward`, `tiles_dq`, `tiles_dkv`): counted inside the kernels, per computed tile.
    """
    check_shapes(q, k, v, q_info, kv_info)
    cfg = make_cfg(platform, q.shape[1], k.shape[1], q.shape[3], scale=scale, block_sizes=block_sizes,
                   interpret=interpret, chip=chip, itemsize=jnp.dtype(q.dtype).itemsize)
    qp, kp, vp, qi3, ki3 = prepare(cfg, q, k, v, q_info, kv_info)
    dop = jnp.pad(do, ((0, 0), (0, qp.shape[1] - q.shape[1]), (0, 0), (0, 0)))
    o, lse, c_fwd = kernel_forward(cfg, qp, kp, vp, qi3, ki3, count=True)
    dq, dk, dv, c_dq, c_dkv = kernel_backward(cfg, qp, kp, vp, qi3, ki3, o, lse, dop, count=True)
    Lq, Lk = q.shape[1], k.shape[1]
    return {"o": o[:, :Lq], "lse": lse[:, :, :Lq], "dq": dq[:, :Lq], "dk": dk[:, :Lk], "dv": dv[:, :Lk],
            "tiles_forward": c_fwd.sum(), "tiles_dq": c_dq.sum(), "tiles_dkv": c_dkv.sum(),
            "blocks": (cfg.bq, cfg.bk, cfg.bq_bwd, cfg.bk_bwd), "padded": (qp.shape[1], kp.shape[1])}


def count_computed_tiles(q, k, v, q_info: MaskInfo, kv_info: MaskInfo, *, platform: str,
                         block_sizes: BlockSizes | None = None, interpret=False) -> dict[str, int]:
    """Tiles computed by the forward, dq and dk/dv kernels (their own counters), summed over the grid."""
    r = run_kernels(q, k, v, q_info, kv_info, jnp.ones(q.shape, q.dtype), platform=platform,
                    block_sizes=block_sizes, interpret=interpret)
    return {"forward": int(r["tiles_forward"]), "dq": int(r["tiles_dq"]), "dkv": int(r["tiles_dkv"])}
