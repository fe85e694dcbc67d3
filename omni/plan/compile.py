"""Compile every program of a run for a TPU slice ahead of time and judge it: compiled or the compiler's
error, bytes per device (`memory_analysis()`), fits in HBM with headroom, FLOPs per step, implied step time.

XLA's `cost_analysis()` does not count Pallas kernels, so FLOPs come from the model's analytic count
(`omni.model.model_stats`): matmuls and attention, forward and backward, remat recompute excluded.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import time
from collections.abc import Callable

import jax

from omni import sharding
from omni.attention import resolve_impl
from omni.config import Config, ConfigError
from omni.plan import programs as P
from omni.plan.topology import Topology
from omni.train.mesh import batch_shards, check_batch_layout, resolve_for_mesh

HBM_HEADROOM = 0.10   # a program "fits" when its bytes per device stay under 90% of HBM
DEFAULT_MFU = 0.40
ERROR_LINES = 4       # first lines of a compiler error, verbatim


def _memory(compiled) -> dict[str, int]:
    m = compiled.memory_analysis()
    out = {"arguments": int(m.argument_size_in_bytes), "outputs": int(m.output_size_in_bytes),
           "temporaries": int(m.temp_size_in_bytes), "generated_code": int(m.generated_code_size_in_bytes)}
    alias = int(getattr(m, "alias_size_in_bytes", 0))  # donated arguments reused as outputs count once
    out["aliased"] = alias
    out["total"] = out["arguments"] + out["outputs"] - alias + out["temporaries"] + out["generated_code"]
    return out


def _xla_flops(compiled, num_devices: int) -> float | None:
    """FLOPs of one call of a program without Pallas kernels: XLA's per-device count times the devices (None
    where the backend gives no count: the CUDA plugin without a GPU)."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = (cost or {}).get("flops")
    return None if flops is None else float(flops) * num_devices


def _pallas_kernels(hlo: str) -> int:
    """Pallas kernels in a compiled program: Mosaic (TPU) or Triton (GPU) custom calls."""
    return hlo.count('custom_call_target="tpu_custom_call"') + hlo.count('custom_call_target="__gpu$xla.gpu.triton"')


def _first_lines(e: Exception) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
    return "\n".join(lines[:ERROR_LINES])


@contextlib.contextmanager
def without_persistent_cache():
    """JAX's persistent compilation cache off for the duration. An executable compiled for a slice or node that is
    not attached here (a compile-only client) cannot be loaded back on this host: with a cache set
    (`JAX_COMPILATION_CACHE_DIR`, common on pods) jax would store every plan's programs and, on each later plan,
    fail to read them with a warning per program. The cache decides once per process whether it is in use, so it
    is reset on the way in and on the way out."""
    from jax.experimental.compilation_cache import compilation_cache
    enabled = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)
        compilation_cache.reset_cache()


def judge(build: Callable[[], P.Program], topo: Topology, impl: str, mfu: float) -> dict:
    """Builds, lowers and compiles one program; every outcome is a result (never raises for the compiler)."""
    hbm = topo.chip.hbm_bytes
    out = {"compiled": False, "error": None, "attention_impl": impl, "bytes_per_device": None,
           "hbm_bytes_per_device": hbm, "hbm_headroom": HBM_HEADROOM, "fits": False, "flops_per_step": None,
           "flops_source": None, "step_time_s_at_mfu": None, "mfu": mfu, "pallas_kernels": None, "batch": None,
           "argument_bytes_per_device": None, "compile_s": None}
    t0 = time.perf_counter()
    try:
        prog = build()
        out.update(batch=prog.batch, argument_bytes_per_device=P.arg_bytes_per_device(prog.args),
                   attention_impl=impl if prog.attention else None)
        peak = topo.num_devices * topo.chip.peak_tflops * 1e12

        def set_flops(flops, source):
            if flops is not None:
                out.update(flops_per_step=flops, flops_source=source, step_time_s_at_mfu=flops / (peak * mfu))
        if prog.flops is not None:
            set_flops(prog.flops, "analytic")
        lowered = prog.lower()
        with without_persistent_cache():
            compiled = lowered.compile()
        out["compiled"] = True
        if prog.flops is None:
            set_flops(_xla_flops(compiled, topo.num_devices), "xla_cost_analysis")
        out["bytes_per_device"] = _memory(compiled)
        out["pallas_kernels"] = _pallas_kernels(compiled.as_text())
        out["fits"] = out["bytes_per_device"]["total"] <= hbm * (1 - HBM_HEADROOM)
    except Exception as e:  # noqa: BLE001 - the compiler's verdict is the result
        out["error"] = _first_lines(e)
    out["compile_s"] = round(time.perf_counter() - t0, 2)
    return out


def adapt_mesh(cfg: Config, num_devices: int) -> tuple[Config, str | None]:
    """The config's mesh, or, when its fixed axes do not divide the slice's devices (7b's tensor=8 on a v5e-4),
    the same mesh with tensor, then fsdp, then data halved until they do. -> (config, note or None)."""
    m = cfg.mesh
    sizes = {"data": m.data, "fsdp": m.fsdp, "tensor": m.tensor}
    fixed = lambda: math.prod(v for v in sizes.values() if v != -1)  # noqa: E731
    if -1 not in sizes.values() or num_devices % fixed() == 0:
        return cfg, None
    for axis in ("tensor", "fsdp", "data"):
        while sizes[axis] > 1 and num_devices % fixed():
            sizes[axis] //= 2
    note = (f"the config's mesh (data={m.data}, fsdp={m.fsdp}, tensor={m.tensor}) does not fit {num_devices} "
            f"devices; planned with data={sizes['data']}, fsdp={sizes['fsdp']}, tensor={sizes['tensor']}")
    return dataclasses.replace(cfg, mesh=dataclasses.replace(m, **sizes)), note


def mesh_for(cfg: Config, topo: Topology, devices: list):
    """The config's mesh over the slice's devices, laid out as `launch/train.py` lays it out on the pod."""
    try:
        return sharding.make_mesh(cfg.mesh, devices)
    except ValueError as e:
        raise ConfigError(f"mesh on {topo.name} ({topo.num_devices} devices): {e}") from None


def laid_out(cfg: Config, mesh) -> Config:
    rcfg = resolve_for_mesh(cfg, mesh)
    try:
        check_batch_layout(rcfg, mesh)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return rcfg


def with_batch(cfg: Config, batch: int) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch))


_REQUIRED = re.compile(r"required for HLO temporaries \(([\d.]+)([KMGT])\)")


def _needed_bytes(verdict: dict) -> tuple[float, float] | None:
    """(total, arguments) bytes per device of a judged train step: from memory_analysis, or from the
    compiler's out-of-memory message ("... required for HLO temporaries (921.82G) ..."); None if unknown."""
    b = verdict.get("bytes_per_device")
    if b:
        return float(b["total"]), float(b["arguments"])
    m = _REQUIRED.search(verdict.get("error") or "")
    args = verdict.get("argument_bytes_per_device")
    if m and args is not None:
        return float(args) + float(m.group(1)) * 1024 ** "KMGT".index(m.group(2)) * 1024, float(args)
    return None


def fit_batch(cfg: Config, mesh, topo: Topology, impl: str, mfu: float, max_per_device: int = 4096):
    """Largest global train batch of the form (config batch) x 2^k (k may be negative; a multiple of grad_accum x
    batch shards) whose train step compiles and fits: from the config's batch, up while it fits, down while it
    does not. Each try is a full compile, so the next try jumps to the power of two that the last one's memory
    predicts (arguments fixed, the rest linear in the batch) when that is further. -> (batch or None, tried)."""
    unit = cfg.train.grad_accum * batch_shards(cfg, mesh)
    limit = topo.chip.hbm_bytes * (1 - HBM_HEADROOM) if topo is not None else None
    tried: dict[int, dict] = {}

    def ok(k: int) -> bool:
        b = k * unit
        if b not in tried:
            tried[b] = judge(lambda: P.train_program(with_batch(cfg, b), mesh), topo, impl, mfu)
        return tried[b]["compiled"] and tried[b]["fits"]

    def predicted(k: int) -> int | None:
        """The per-shard batch (a power of two, 0: none) that k's memory says fits; None if unknown."""
        need = _needed_bytes(tried[k * unit]) if limit is not None else None
        if need is None:
            return None
        total, args = need
        if limit <= args:
            return 0  # the state alone does not fit: no batch will
        x = k * (limit - args) / max(total - args, 1.0)
        return 2 ** int(math.floor(math.log2(x))) if x >= 1 else 1

    k = max(1, cfg.train.batch_size // unit)
    while not ok(k):
        guess = predicted(k)
        if k == 1 or guess == 0:
            return None, tried
        k = min(k // 2, guess) if guess else k // 2
    while 2 * k * unit <= max_per_device * math.prod(mesh.devices.shape):
        guess = predicted(k)
        step = guess if guess and guess > 2 * k and guess * unit <= max_per_device * mesh.devices.size else 2 * k
        if ok(step):
            k = step
        elif step > 2 * k and ok(2 * k):
            k = 2 * k
        else:
            break
    return k * unit, tried


PROGRAMS = ("train_step", "eval_step", "decode_step")


def plan(cfg: Config, topo: Topology, devices: list, *, mfu: float = DEFAULT_MFU, fit: bool = False,
         programs=PROGRAMS, extra: dict[str, Callable] | None = None, adapt: bool = True) -> dict:
    """The whole plan for one topology as the JSON object `launch/plan.py` prints. `adapt`: shrink a
    config mesh that does not fit the slice (see `adapt_mesh`; never done to a mesh given on the command line)."""
    cfg, note = adapt_mesh(cfg, topo.num_devices) if adapt else (cfg, None)
    mesh = mesh_for(cfg, topo, devices)
    impl = resolve_impl(cfg.model.attention_impl, topo.platform)
    out = {"config": cfg.name, "topology": topo.name, "devices": topo.num_devices,
           "chip": topo.chip.name, "slices": topo.num_slices, "target": topo.target,
           "mesh": dict(zip(mesh.axis_names, (int(s) for s in mesh.devices.shape))),
           "hbm_bytes_per_device": topo.chip.hbm_bytes, "peak_tflops_per_device": topo.chip.peak_tflops,
           "mesh_note": note, "programs": {}}
    if fit:  # on the config as laid out on this mesh (layout chunks per batch shard), as the trainer runs it
        best, tried = fit_batch(resolve_for_mesh(cfg, mesh), mesh, topo, impl, mfu)
        out["largest_batch"] = best
        out["batches_tried"] = {str(b): {"fits": v["fits"], "compiled": v["compiled"],
                                         "total_bytes": (v["bytes_per_device"] or {}).get("total"),
                                         "error": (v["error"] or "").split("\n")[0] or None}
                                for b, v in sorted(tried.items())}
        if best is not None:
            cfg = with_batch(cfg, best)
    rcfg = laid_out(cfg, mesh)
    builders = {"train_step": lambda: P.train_program(rcfg, mesh),
                "eval_step": lambda: P.eval_program(rcfg, mesh),
                "decode_step": lambda: P.decode_program(rcfg, mesh)}
    for name, make in (extra or {}).items():
        builders[name] = (lambda make=make: make(rcfg, mesh))
    for name in list(programs) + [n for n in (extra or {}) if n not in programs]:
        if name == "train_step" and fit and out["largest_batch"] is not None:
            out["programs"][name] = tried[out["largest_batch"]]  # compiled by the search at this batch
            continue
        out["programs"][name] = judge(builders[name], topo, impl, mfu)
    out["batch"] = rcfg.train.batch_size
    out["batch_per_device"] = rcfg.train.batch_size / math.prod(mesh.devices.shape)
    out["tokens_per_step"] = rcfg.train.batch_size * rcfg.train.seq_len
    out["jax_version"] = jax.__version__
    return out
