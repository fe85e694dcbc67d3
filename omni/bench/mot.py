"""`bench.py mot`: train-step time of the MoT vs the dense baseline on the tiny-shaped model.

Both variants run forward + backward on the same batch with the four modalities mixed, timed side by side
(alternating repetitions) after warm-up. FLOPs per token are analytic (omni.model.flops); the compiled
step's XLA FLOP counts are reported too, so grouping overhead (tile padding) is visible.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from omni import modality as mod
from omni.bench import BENCHMARKS
from omni.config import load_config
from omni.model import build_model, loss_fn, model_stats


def _batch(vocab, B, L, seed):
    """Four modalities mixed in runs (like real interleaved data), one segment per row."""
    rng = np.random.default_rng(seed)
    mods = np.zeros((B, L), np.int32)
    for b in range(B):
        t = 0
        while t < L:
            run = int(rng.integers(16, 96))
            mods[b, t:t + run] = rng.integers(0, 4)
            t += run
    ids = np.zeros((B, L), np.int32)
    for m, name in enumerate(mod.names()):
        a, z = vocab.range(name)
        ids[mods == m] = rng.integers(a, z, int((mods == m).sum()))
    return {"inputs": ids, "targets": np.roll(ids, -1, 1), "input_modality": mods,
            "target_modality": np.roll(mods, -1, 1), "segment_ids": np.ones((B, L), np.int32),
            "positions": np.tile(np.arange(L, dtype=np.int32), (B, 1)),
            "span_ids": np.zeros((B, L), np.int32), "loss_mask": np.ones((B, L), np.float32)}


def _step_fn(cfg):
    gd, state = nnx.split(build_model(cfg))

    @jax.jit
    def step(state, batch):
        def f(st):
            return loss_fn(nnx.merge(gd, st), batch)[0]
        loss, grads = jax.value_and_grad(f)(state)
        return loss, grads
    return step, state


@BENCHMARKS.register("mot")
def run(argv):
    ap = argparse.ArgumentParser(prog="bench.py mot")
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args(argv)
    base = load_config(a.config, [f"train.seq_len={a.seq}", f"model.max_seq_len={max(a.seq, 128)}",
                                  *a.overrides])
    dense_cfg = load_config(a.config, [f"train.seq_len={a.seq}", f"model.max_seq_len={max(a.seq, 128)}",
                                       "model.untie_attention=false", "model.untie_ffn=false",
                                       "model.untie_norms=false", *a.overrides])
    batch = {k: jnp.asarray(v) for k, v in _batch(base.vocab.build(), a.batch, a.seq, 0).items()}
    fns = {"mot": _step_fn(base), "dense": _step_fn(dense_cfg)}
    compiled_flops = {}
    for name, (step, state) in fns.items():
        jax.block_until_ready(step(state, batch))  # compile + warm-up
        jax.block_until_ready(step(state, batch))
        cost = step.lower(state, batch).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        compiled_flops[name] = float(cost.get("flops", 0.0)) if cost else 0.0
    times = {"mot": [], "dense": []}
    for _ in range(a.reps):
        for name, (step, state) in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(step(state, batch))
            times[name].append(time.perf_counter() - t)
    mot_t, dense_t = float(np.median(times["mot"])), float(np.median(times["dense"]))
    tokens = a.batch * a.seq
    ms, ds = model_stats(base, a.seq), model_stats(dense_cfg, a.seq)
    return {
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "config": a.config,
        "batch": a.batch, "seq_len": a.seq,
        "step_time_mot_s": mot_t,
        "step_time_dense_s": dense_t,
        "step_time_ratio_mot_over_dense": mot_t / dense_t,
        "flops_per_token_mot": ms.train_flops_per_token,
        "flops_per_token_dense": ds.train_flops_per_token,
        "compiled_flops_per_token_mot": compiled_flops["mot"] / tokens,
        "compiled_flops_per_token_dense": compiled_flops["dense"] / tokens,
        "params_total_mot": ms.total_params, "params_total_dense": ds.total_params,
        "params_active_per_token": ms.active_params,
    }
