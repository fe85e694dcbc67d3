"""`bench.py train [--config NAME] [--steps N] [key=value ...]`: the jitted train step on this backend.

Builds the sharded state on all devices (cfg.mesh), feeds one packed synthetic batch (data made in
seconds, same shapes as the real pipeline), compiles, warms up, then times `--steps` steps. Reports
step time, tokens/s, model TFLOP/s per device (analytic FLOPs: matmuls + causal attention) and MFU
against the device's dense bf16 peak (train.peak_tflops overrides it).

Side by side, the machine's own yardstick: `machine_matmul_flops`, the sustained FLOP/s of a jitted fp32
square matmul (sized to take ~0.2 s, median of 5) on all local devices, measured just before and just
after the timed steps (mean of the two, so a shared machine's load hits both alike), and
`mfu_vs_machine` = the step's model FLOP/s (all devices) / machine_matmul_flops. On CPUs, which have no
datasheet peak here, it is the MFU that means something.
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax

from omni.bench import BENCHMARKS
from omni.config import load_config
from omni.data.pipeline import make_iterator
from omni.model import model_stats
from omni.train.mesh import batch_shardings, resolve_for_mesh, train_mesh
from omni.train.metrics import machine_matmul_flops, peak_tflops, throughput
from omni.train.optimizer import make_optimizer
from omni.train.state import create_train_state, mot_state_shardings
from omni.train.step import fetch, learning_rate, make_train_step


@BENCHMARKS.register("train")
def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.py train")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compilation")
    parser.add_argument("--no-machine", action="store_true", help="skip the matmul yardstick")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.warmup < 0:
        raise SystemExit("--steps must be > 0 and --warmup >= 0")
    cfg = load_config(args.config, list(args.overrides) + ["data.source=synthetic", "data.num_workers=0"])
    mesh = train_mesh(cfg)
    rcfg = resolve_for_mesh(cfg, mesh)
    tx = make_optimizer(rcfg)
    graphdef, state = create_train_state(rcfg, mesh, tx)
    step = make_train_step(rcfg, graphdef, tx, mesh, mot_state_shardings(rcfg, mesh, tx))
    it = make_iterator(cfg, "train", seed=cfg.seed)
    bsh = batch_shardings(rcfg, mesh)
    batch = {k: jax.make_array_from_process_local_data(bsh[k], v) for k, v in next(it).items()}
    it.close()

    t = time.perf_counter()
    lr = learning_rate(cfg, cfg.train.warmup_steps)  # the peak
    compiled = step.lower(state, batch, lr).compile()
    compile_s = time.perf_counter() - t
    for _ in range(args.warmup):
        state, m = compiled(state, batch, lr)
    jax.block_until_ready(state)
    machine = [] if args.no_machine else [machine_matmul_flops()]
    times = []
    cpu0 = time.process_time()
    for _ in range(args.steps):
        t = time.perf_counter()
        state, m = compiled(state, batch, lr)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t)
    cpu_s = (time.process_time() - cpu0) / args.steps
    if machine:
        machine.append(machine_matmul_flops())
    step_s = statistics.median(times)
    stats = model_stats(cfg, cfg.train.seq_len)
    tokens = cfg.train.batch_size * cfg.train.seq_len
    peak = peak_tflops(override=cfg.train.peak_tflops)
    dev = jax.devices()[0]
    out = {"config": cfg.name, "backend": jax.default_backend(), "device_kind": dev.device_kind,
           "devices": jax.device_count(), "processes": jax.process_count(), "mesh": dict(mesh.shape),
           "batch_size": cfg.train.batch_size, "seq_len": cfg.train.seq_len, "grad_accum": cfg.train.grad_accum,
           "dtype": cfg.model.dtype, "remat": cfg.model.remat, "attention_impl": cfg.model.attention_impl,
           "grouped_matmul": cfg.model.grouped_matmul, "params_total": stats.total_params,
           "params_active": stats.active_params, "train_gflops_per_token": stats.train_flops_per_token / 1e9,
           "compile_s": compile_s, "step_time_s": step_s, "step_time_min_s": min(times),
           "process_cpu_s_per_step": cpu_s,  # all threads; on a shared CPU host steadier than wall time
           "loss": float(fetch(m)["loss"]), "peak_tflops_per_device": peak}
    out.update(throughput(tokens, step_s, stats.train_flops_per_token, jax.device_count(), peak))
    if machine:
        flops = sum(m["machine_matmul_flops"] for m in machine) / len(machine)
        out.update(machine_matmul_flops=flops, machine_matmul_flops_before=machine[0]["machine_matmul_flops"],
                   machine_matmul_flops_after=machine[1]["machine_matmul_flops"],
                   machine_matmul_n=machine[0]["machine_matmul_n"],
                   mfu_vs_machine=tokens / step_s * stats.train_flops_per_token / flops)
    mem = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if mem and "peak_bytes_in_use" in mem:
        out["peak_memory_gib"] = mem["peak_bytes_in_use"] / 2**30
    return out
