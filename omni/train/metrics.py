"""Throughput and MFU from analytic FLOPs, known device peaks, and the run's metric writers.

MFU = achieved model FLOP/s per device / the device's dense bf16 peak. Model FLOPs come from
`omni.model.model_stats` (matmuls + causal attention, forward and backward; remat recompute excluded).
"""
from __future__ import annotations

import json
import math
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp

# Dense bf16 peak TFLOP/s per chip by `device_kind` substring (vendor datasheets; first match wins).
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("TPU v6 lite", 918.0), ("TPU v6e", 918.0),
    ("TPU v5p", 459.0),
    ("TPU v5 lite", 197.0), ("TPU v5e", 197.0),
    ("TPU v5", 459.0),
    ("TPU v4", 275.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
    ("A100", 312.0),
)


def peak_tflops(device_kind: str | None = None, override: float = 0.0) -> float | None:
    """Per-device peak TFLOP/s: `override` if > 0, else the table entry for the device, else None."""
    if override > 0:
        return float(override)
    kind = jax.devices()[0].device_kind if device_kind is None else device_kind
    for key, value in PEAK_TFLOPS:
        if key.lower() in kind.lower():
            return value
    return None


def machine_matmul_flops(target_s: float = 0.2, repeats: int = 5, max_n: int = 8192) -> dict:
    """Sustained FLOP/s of a jitted fp32 square matmul on every local device at once (the machine's own
    yardstick for MFU where no datasheet peak applies, e.g. CPUs): n is doubled from 256 until one call takes
    about `target_s` (or n reaches `max_n`), then the median of `repeats` timed calls is taken.

    Returns {"machine_matmul_flops" (all local devices together), "machine_matmul_n", "machine_matmul_s"}."""
    devs = jax.local_devices()
    f = jax.jit(lambda a, b: a @ b)

    def timed(n):
        key = jax.random.PRNGKey(0)
        ab = [(jax.device_put(jax.random.normal(key, (n, n), jnp.float32), d),) * 2 for d in devs]
        jax.block_until_ready([f(a, b) for a, b in ab])  # compile + warm
        t = time.perf_counter()
        jax.block_until_ready([f(a, b) for a, b in ab])
        return ab, time.perf_counter() - t

    n = 256
    ab, s = timed(n)
    while s < target_s and n < max_n:
        n = min(max_n, n * 2 if s < target_s / 6 else int(n * (target_s / s) ** (1 / 3)) // 64 * 64 + 64)
        ab, s = timed(n)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready([f(a, b) for a, b in ab])
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"machine_matmul_flops": 2.0 * n ** 3 * len(devs) / med, "machine_matmul_n": n, "machine_matmul_s": med}


def throughput(tokens: float, seconds: float, flops_per_token: float, num_devices: int,
               peak: float | None, unit: str = "tokens") -> dict[str, float]:
    """<unit>_per_s, tflops_per_device and (when the peak is known) mfu for `tokens` items in `seconds`
    (items are tokens for the MoT, examples for a tokenizer)."""
    seconds = max(seconds, 1e-9)
    tps = tokens / seconds
    tflops = tps * flops_per_token / num_devices / 1e12
    out = {f"{unit}_per_s": tps, "tflops_per_device": tflops}
    if peak:
        out["mfu"] = tflops / peak
    return out


class MetricsWriter:
    """Appends one JSON object per record to metrics.jsonl and mirrors scalars to TensorBoard.

    Disabled (no files) on every process but the first, so multi-host runs log once.
    """

    def __init__(self, run_dir: str | pathlib.Path, enabled: bool = True, purge_step: int | None = None):
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        run_dir = pathlib.Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
        from tensorboardX import SummaryWriter  # on use: heavy (protobuf), only when logging is enabled
        # purge_step: on resume, TensorBoard drops events logged after the checkpoint by the killed run.
        self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge_step)

    def write(self, step: int, record: dict):
        if not self.enabled:
            return
        row = {"step": int(step), "time": time.time(), **{k: _plain(v) for k, v in record.items()}}
        for k, v in row.items():
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None  # strict JSON: non-finite values are written as null
            elif k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool):
                self._tb.add_scalar(k, v, step)
        self._jsonl.write(json.dumps(row, allow_nan=False) + "\n")
        self._jsonl.flush()
        self._tb.flush()

    def close(self):
        if self.enabled:
            self._jsonl.close()
            self._tb.close()


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    return v


def read_metrics(path: str | pathlib.Path) -> list[dict]:
    """Every record (train and eval rows) of a run folder's metrics.jsonl, or of the metrics file named, in
    order; [] when there is none. A line cut short by a kill, or one without a step, is skipped."""
    path = pathlib.Path(path)
    path = path / "metrics.jsonl" if path.is_dir() else path
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            out.append(rec)
    return out
