"""`bench.py attention`: Pallas attention kernels: accuracy (interpret mode on CPU) and speed (GPU/TPU).

Always: `visible_tile_fraction` of a causal and of an interleaved multimodal mask (the share of tiles
the kernels compute). On CPU: both Pallas kernels in interpret mode vs the XLA reference (max abs
error of the output and of dq/dk/dv) and their computed-tile counters vs the visible tiles. On a GPU or
TPU: forward+backward time and TFLOP/s of each available impl (pallas, cudnn, xla) over lengths and masks.
FLOPs count only visible (query, key) pairs: forward 4*D per pair per head, backward 2.5x forward.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from omni.attention import MaskInfo, attention, resolve_impl
from omni.bench import BENCHMARKS
from omni.chips import chip_for_device_kind
from omni.kernels.block_mask import dense_tile_visibility, pad_info, visible_tile_fraction
from omni.kernels.flash import GPU_BLOCKS, BlockSizes, default_blocks, run_kernels
from omni.kernels.masks import causal_info, multimodal_info, random_packed_info
from omni.kernels.testing import fast_jit, max_err, random_qkvo, reference


def _masks(batch, length):
    """causal; interleaved text / bidirectional media in one document; the same packed as 4 documents."""
    return {"causal": causal_info(batch, length),
            "multimodal_1doc": multimodal_info(batch, length, docs=1, text=256, media=512),
            "multimodal": multimodal_info(batch, length, docs=4, text=256, media=512)}


def _visible_pairs(info: MaskInfo, chunk: int = 1024) -> int:
    """Number of visible (query, key) pairs, summed over the batch, without an L x L mask in memory."""
    @jax.jit
    def part(q_info):
        qs, ks = q_info.segment_ids[:, :, None], info.segment_ids[:, None, :]
        vis = (qs == ks) & (qs != 0) & ((info.positions[:, None, :] <= q_info.positions[:, :, None])
                                        | ((q_info.span_ids[:, :, None] == info.span_ids[:, None, :])
                                           & (q_info.span_ids[:, :, None] != 0)))
        return jnp.sum(vis, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)
    L = info.segment_ids.shape[1]
    return sum(int(part(MaskInfo(*(x[:, a:a + chunk] for x in info)))) for a in range(0, L, chunk))


def interpret_accuracy(length=256, block=64, seed=0) -> dict:
    """Both Pallas kernels in interpret mode on a random packed multimodal batch (fp32) vs XLA."""
    B, H, Hkv, D = 1, 2, 1, 64
    info = random_packed_info(np.random.default_rng(seed), B, length, pad_prob=1.0)
    q, k, v, do = random_qkvo(jax.random.key(seed), B, length, length, H, Hkv, D)
    want = reference(q, k, v, info, info, do)
    out = {}
    for platform in ("gpu", "tpu"):
        bs = BlockSizes(block, block if platform == "gpu" else max(block, 128))  # TPU kv tiles: 128 lanes
        r = fast_jit(lambda q, k, v, do, platform=platform, bs=bs: run_kernels(
            q, k, v, info, info, do, platform=platform, block_sizes=bs, interpret=True))(q, k, v, do)
        pq, pk = r["padded"]
        vis = dense_tile_visibility(pad_info(info, pq), pad_info(info, pk), bs.block_q, bs.block_k)
        out[platform] = {"max_abs_err_fwd": max_err(r["o"], want[0]),
                         "max_abs_err_grad": max(max_err(r[n], w) for n, w in zip(("dq", "dk", "dv"), want[1:])),
                         "tiles_computed_fwd": int(r["tiles_forward"]), "tiles_visible": H * int(vis.sum()),
                         "tiles_total": H * int(vis.size), "block": [bs.block_q, bs.block_k]}
    return {"shape": {"B": B, "L": length, "H": H, "Hkv": Hkv, "D": D, "block": block, "dtype": "float32"},
            "kernels": out}


def _time(fn, args, iters):
    jax.block_until_ready(fn(*args))  # compile + warm up
    jax.block_until_ready(fn(*args))
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def timing_table(lengths, head_dim, heads, kv_heads, tokens, iters, impls, block_sizes=None) -> list[dict]:
    """Forward+backward time and TFLOP/s per (mask, length, impl) on the default backend (bf16)."""
    rows = []
    for L in lengths:
        B = max(1, tokens // L)
        q, k, v, do = random_qkvo(jax.random.key(L), B, L, L, heads, kv_heads, head_dim, jnp.bfloat16)
        for mask_name, info in _masks(B, L).items():
            pairs = _visible_pairs(info)
            flops = 3.5 * 4 * heads * head_dim * pairs
            for impl in impls:
                kw = {}
                if impl == "pallas" and block_sizes is not None:
                    kw["block_sizes"] = block_sizes
                if impl == "cudnn":
                    kw["mask"] = "causal" if mask_name == "causal" else "dense"

                def step(q, k, v, do, info=info, impl=impl, kw=kw):
                    o, vjp = jax.vjp(lambda q, k, v: attention(q, k, v, info, impl=impl, **kw), q, k, v)
                    return o, *vjp(do)

                row = {"mask": mask_name, "L": L, "B": B, "impl": impl}
                try:
                    sec = _time(jax.jit(step), (q, k, v, do), iters)
                    row.update(ms_fwd_bwd=round(sec * 1e3, 3), tflops=round(flops / sec / 1e12, 1))
                except Exception as e:  # noqa: BLE001 - e.g. xla out of memory at long L: report, go on
                    row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
                rows.append(row)
    return rows


@BENCHMARKS.register("attention")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py attention")
    ap.add_argument("--lengths", default="2048,8192,16384")
    ap.add_argument("--head_dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv_heads", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=16384, help="batch = tokens // L")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--impls", default="pallas,cudnn,xla")
    ap.add_argument("--block", default="", help="pallas tiles: q,k[,q_bwd,k_bwd]")
    ap.add_argument("--interpret_length", type=int, default=256)
    a = ap.parse_args(argv)
    backend = jax.default_backend()
    chip = chip_for_device_kind(jax.devices()[0].device_kind) if backend == "tpu" else None
    blk = default_blocks("tpu", chip, a.head_dim) if backend == "tpu" else GPU_BLOCKS
    result = {"backend": backend, "device": jax.devices()[0].device_kind,
              "visible_tile_fraction": {
                  name: visible_tile_fraction(info, info, blk.block_q, blk.block_k)
                  for name, info in _masks(1, 8192).items()},
              "visible_tile_fraction_setup": {"L": 8192, "block_q": blk.block_q, "block_k": blk.block_k}}
    if backend == "cpu":
        result["interpret"] = interpret_accuracy(a.interpret_length)
        return result
    impls = []
    for name in a.impls.split(","):
        try:
            impls.append(resolve_impl(name, backend))
        except ValueError:
            pass
    block_sizes = BlockSizes(*(int(x) for x in a.block.split(","))) if a.block else None
    result["timing"] = timing_table([int(x) for x in a.lengths.split(",")], a.head_dim, a.heads, a.kv_heads,
                                    a.tokens, a.iters, impls, block_sizes)
    result["setup"] = {"dtype": "bfloat16", "head_dim": a.head_dim, "heads": a.heads, "kv_heads": a.kv_heads,
                       "tokens_per_batch": a.tokens, "iters": a.iters,
                       "pallas_blocks": list((block_sizes or blk).__dict__.values())}
    return result
