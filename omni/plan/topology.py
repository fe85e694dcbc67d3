"""TPU slices by their cloud names (v4-8, v5e-4, v5p-128, v6e-256, 2xv5p-8), as devices the TPU compiler
can target from any host: `jax.experimental.topologies` describes the chips; no chip, network or device
file is touched (libtpu finds no TPU and skips its metadata query).

libtpu is found as jax finds it (`TPU_LIBRARY_PATH`, else the `libtpu` package); `make setup` installs it
beside the venv in `.venv/libtpu-aot` rather than into site-packages, so that ordinary programs on a
machine without a TPU never load it (it prints warnings whenever jax starts otherwise).
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re
import sys

from omni.chips import TPU_CHIPS, TpuChip
from omni.plan.gpu import gpu_devices, parse_gpu_topology, stderr_to

AOT_LIBTPU_DIR = "libtpu-aot"  # under the venv (sys.prefix)


@dataclasses.dataclass(frozen=True)
class Topology:
    """A TPU slice (or `num_slices` identical slices joined over the data-centre network)."""

    name: str             # as given: "v5p-8", "2xv6e-256"
    chip: TpuChip
    chips: int            # per slice
    shape: tuple[int, ...]  # chips per torus dimension, per slice
    num_slices: int = 1

    @property
    def devices_per_slice(self) -> int:
        return self.chips  # megacore chips (v4, v5p) are one device; v5e/v6e chips have one core

    @property
    def num_devices(self) -> int:
        return self.chips * self.num_slices

    platform = "tpu"

    @property
    def target(self) -> str:
        return f"tpu:{self.libtpu_name}"

    @property
    def libtpu_name(self) -> str:
        return f"{self.chip.topology_prefix}:{'x'.join(map(str, self.shape))}"

    @property
    def chips_per_host_bounds(self) -> tuple[int, int, int]:
        """Chips of one host: 2x2 (4 chips) on every generation, except single-host slices of 1 or 8 chips."""
        if self.chip.dims == 2 and self.chips in (1, 8):
            return (self.shape[0], self.shape[1], 1)
        return (2, 2, 1)


def _torus_shape(chips: int, dims: int) -> tuple[int, ...] | None:
    """Slice shapes as the cloud builds them: from 2x2(x1), double the smallest dimension (the last of ties)."""
    if chips == 1:
        return (1,) * dims
    shape = [2, 2] + [1] * (dims - 2)
    while math.prod(shape) < chips:
        i = max(j for j, s in enumerate(shape) if s == min(shape))
        shape[i] *= 2
    return tuple(shape) if math.prod(shape) == chips else None


_NAME = re.compile(r"^(?:(\d+)x)?(v4|v5e|v5p|v6e|v5litepod|v6litepod)-(\d+)$")
_ALIASES = {"v5litepod": "v5e", "v6litepod": "v6e"}


def parse_topology(name: str):
    """'v5p-8' -> Topology, 'h100-8' -> omni.plan.gpu.GpuTopology; ValueError naming the accepted forms."""
    gpu = parse_gpu_topology(name)
    if gpu is not None:
        return gpu
    m = _NAME.match(name.strip().lower())
    if not m:
        raise ValueError(f"unknown topology {name!r}: expected a TPU slice name such as v4-8, v5e-4, v5p-8, "
                         f"v5p-128, v6e-4, v6e-256 (N slices: '2xv5p-8'), or GPU nodes h100-8 / h200-8 "
                         f"(N nodes: '2xh100-8')")
    slices, gen, n = int(m.group(1) or 1), _ALIASES.get(m.group(2), m.group(2)), int(m.group(3))
    chip = TPU_CHIPS[gen]
    per = chip.cores_per_chip_in_name
    chips = n // per if n % per == 0 else 0
    shape = _torus_shape(chips, chip.dims) if chips else None
    if shape is None or slices < 1 or (chips == 1 and chip.dims == 3):
        unit = "TensorCores (2 per chip)" if per == 2 else "chips"
        sizes = (1, 4, 8, 16, 32, 64, 128, 256) if chip.dims == 2 else (4, 8, 16, 32, 64, 128, 256, 512)
        raise ValueError(f"{name!r}: the number after {gen}- counts {unit}: expected one of "
                         f"{', '.join(f'{gen}-{c * per}' for c in sizes)}, ... (slice count as '2x{gen}-{4 * per}')")
    return Topology(name, chip, chips, shape, slices)


def _aot_libtpu() -> str | None:
    path = pathlib.Path(sys.prefix) / AOT_LIBTPU_DIR / "libtpu" / "libtpu.so"
    return str(path) if path.exists() else None


def target_devices(topo, log_dir: str | pathlib.Path | None = None) -> list:
    """The devices of a TPU slice or GPU node(s) for ahead-of-time compilation (the compiler plugins' start-up
    messages go to `log_dir`/plugin_stderr.log)."""
    if topo.platform == "gpu":
        with stderr_to(pathlib.Path(log_dir) / "plugin_stderr.log" if log_dir is not None else None):
            return gpu_devices(topo)
    return tpu_devices(topo, log_dir)


def tpu_devices(topo: Topology, log_dir: str | pathlib.Path | None = None) -> list:
    """The slice's TPU devices for ahead-of-time compilation (libtpu's logs go to `log_dir`)."""
    # jax stays out of module scope: launch/plan.py sets up the compiler plugins' env before jax/libtpu load
    from jax.experimental import topologies
    if not os.environ.get("TPU_LIBRARY_PATH") and _aot_libtpu():
        os.environ["TPU_LIBRARY_PATH"] = _aot_libtpu()
    # No chip is opened, so several processes may hold libtpu at once (otherwise its lockfile refuses the second).
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    if log_dir is not None:
        os.environ.setdefault("TPU_LOG_DIR", str(log_dir))
    log = pathlib.Path(log_dir) / "libtpu_stderr.log" if log_dir is not None else None
    try:
        with stderr_to(log):
            desc = topologies.get_topology_desc(
                platform="tpu", topology_name=topo.libtpu_name, chip_config_name=topo.chip.chip_config,
                chips_per_host_bounds=topo.chips_per_host_bounds, num_slices=topo.num_slices)
    except RuntimeError as e:
        if "not installed" in str(e):
            raise RuntimeError("the TPU compiler (libtpu) is not installed: run `make setup` (it installs it "
                               f"in .venv/{AOT_LIBTPU_DIR}) or `pip install 'jax[tpu]'`") from e
        raise
    devices = list(desc.devices)
    if len(devices) != topo.num_devices:
        raise RuntimeError(f"libtpu described {len(devices)} devices for {topo.name}, expected {topo.num_devices}")
    return devices
