"""Data pipeline throughput vs the train step's consumption: `python launch/bench.py data [--json] [options]`.

Positions per second ([B, L] slots, what the train step consumes) delivered by the grain pipeline with
0 and N worker processes, its padding fraction, the demo train step's positions per second on a fixed
batch, and the train step fed live by the pipeline through `device_prefetch` (the pipeline shares the
CPU with the step there). Goal: pipeline_tokens_per_s >= 3 x train_step_tokens_per_s.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

from omni.bench import BENCHMARKS
from omni.config import load_config
from omni.data import pipeline
from omni.sharding import make_mesh
from omni.train.mesh import batch_shardings, resolve_for_mesh
from omni.train.optimizer import make_optimizer
from omni.train.state import create_train_state, mot_state_shardings
from omni.train.step import learning_rate, make_train_step


def _resolve_source(cfg, source: str) -> list[str]:
    """Overrides choosing the data source: token shards if they exist (auto), else synthetic."""
    if source == "synthetic" or (source == "auto" and not (cfg.data.token_dir and
                                                          os.path.isfile(os.path.join(cfg.data.token_dir,
                                                                                      "meta.json")))):
        return ["data.source=synthetic"]
    return ["data.source=tokens"]


def time_pipeline(cfg, workers: int, batches: int, seed: int = 0) -> dict:
    """Startup seconds, positions/s and non-pad tokens/s over `batches` batches after the first."""
    ds, desc = pipeline.make_dataset(cfg, "train", seed=seed, num_workers=workers)
    t0 = time.perf_counter()
    it = pipeline.DataIterator(ds, desc)
    try:
        next(it)
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(batches):
            next(it)
        dt = time.perf_counter() - t1
        st = it.stats()
    finally:
        it.close()
    B, L = desc["batch_size"], desc["seq_len"]
    return {"startup_s": startup, "positions_per_s": batches * B * L / dt,
            "nonpad_tokens_per_s": (1 - st["padding_fraction"]) * batches * B * L / dt,
            "examples_per_s": st["examples"] / (dt + startup), "padding_fraction": st["padding_fraction"],
            "loss_fraction": st["loss_fraction"], "skipped": st["skipped"]}


def time_train_step(cfg, steps: int, feed_from_pipeline: bool, seed: int = 0) -> dict:
    """Seconds per step of the trainer's jitted step: on one fixed batch, or fed by the pipeline."""
    mesh = make_mesh(cfg.mesh)
    rcfg = resolve_for_mesh(cfg, mesh)  # as the training loop lays the config out on the mesh
    tx = make_optimizer(rcfg)
    graphdef, state = create_train_state(rcfg, mesh, tx)
    step = make_train_step(rcfg, graphdef, tx, mesh, mot_state_shardings(rcfg, mesh, tx))
    lr = learning_rate(rcfg, 0)
    bsh = batch_shardings(rcfg, mesh)
    it = pipeline.make_iterator(cfg, "train", seed=seed)
    feed = pipeline.device_prefetch(it, bsh, size=max(cfg.data.prefetch, 1))
    try:
        batch = next(feed)
        t0 = time.perf_counter()
        state, m = step(state, batch, lr)
        jax.block_until_ready(m)
        compile_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(steps):
            if feed_from_pipeline:
                batch = next(feed)
            state, m = step(state, batch, lr)
        jax.block_until_ready(m)
        dt = time.perf_counter() - t1
    finally:
        feed.close()
    B, L = cfg.train.batch_size, cfg.train.seq_len
    return {"compile_s": compile_s, "step_s": dt / steps, "positions_per_s": steps * B * L / dt,
            "loss": float(m["loss"])}


@BENCHMARKS.register("data")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py data", description=__doc__)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--source", choices=("auto", "tokens", "synthetic"), default="auto",
                    help="auto: the config's token shards if they exist, else synthetic examples")
    ap.add_argument("--batches", type=int, default=40, help="pipeline batches timed per worker setting")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for the N-worker measurement")
    ap.add_argument("--steps", type=int, default=5, help="train steps timed (0 = skip the train step)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides")
    a = ap.parse_args(argv)
    base = load_config(a.config, a.overrides)
    cfg = load_config(a.config, list(a.overrides) + _resolve_source(base, a.source))
    out: dict = {"config": cfg.name, "data_source": cfg.data.source, "batch_size": cfg.train.batch_size,
                 "seq_len": cfg.train.seq_len, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                 "processor": platform.processor() or platform.machine()}
    results = {}
    for w in sorted({0, a.workers}):
        r = time_pipeline(cfg, w, a.batches)
        results[w] = r
        out[f"pipeline_tokens_per_s_{w}_workers"] = r["positions_per_s"]
        out[f"pipeline_startup_s_{w}_workers"] = r["startup_s"]
    best = max(results, key=lambda w: results[w]["positions_per_s"])
    out["pipeline_tokens_per_s"] = results[best]["positions_per_s"]
    out["pipeline_best_workers"] = best
    out["pipeline_nonpad_tokens_per_s"] = results[best]["nonpad_tokens_per_s"]
    out["padding_fraction"] = results[0]["padding_fraction"]
    out["loss_fraction"] = results[0]["loss_fraction"]
    out["skipped_examples"] = results[0]["skipped"]
    if a.steps > 0:
        out["device"] = str(jax.devices()[0].device_kind)
        fixed = time_train_step(cfg, a.steps, feed_from_pipeline=False)
        fed = time_train_step(cfg, a.steps, feed_from_pipeline=True)
        out["train_step_tokens_per_s"] = fixed["positions_per_s"]
        out["train_step_s"] = fixed["step_s"]
        out["train_step_compile_s"] = fixed["compile_s"]
        out["train_step_fed_by_pipeline_tokens_per_s"] = fed["positions_per_s"]
        out["pipeline_over_train_step"] = out["pipeline_tokens_per_s"] / fixed["positions_per_s"]
        out["pipeline_never_bottleneck"] = bool(out["pipeline_over_train_step"] >= 3.0)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items() if not isinstance(v, np.ndarray)}
