"""NVIDIA GPU nodes as compile targets without a GPU: the PyPI CUDA plugin (jax-cuda12-plugin/-pjrt) compiles
for a device described by an XLA `GpuTargetConfig` (what `xla/tools/hlo_opt/gpu_specs/h100_sxm.txtpb`
describes), through `jax.experimental.topologies.get_topology_desc(platform="cuda", topology=
"1x<hosts>x<gpus per host>", target_config=...)`.

`make setup-gpu-compiler` installs the plugin beside the venv in `.venv/cuda-aot` (478 MB, no CUDA
libraries); it is put on `sys.path` only by the plan process, which also keeps jax's backends on the CPU
(`JAX_PLATFORMS=cpu`: the plugin's start-up check would call cuInit) and selects the Triton lowering for
Pallas (`JAX_PALLAS_USE_MOSAIC_GPU=0`; omni's GPU kernel is written for Triton). Without a GPU nothing is
autotuned: XLA uses its default GEMM tiling, so temporaries can differ from a compile on the device.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import pathlib
import re
import sys

AOT_CUDA_DIR = "cuda-aot"  # under the venv (sys.prefix)

_DEVICE_INFO = """gpu_device_info {{
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_core: 233472
  threads_per_core_limit: 2048
  core_count: 132
  fpus_per_core: 128
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: {bandwidth}
  l2_cache_size: 52428800
  clock_rate_ghz: 1.98
  device_memory_size: {memory}
  shared_memory_per_block_optin: 232448
  cuda_compute_capability {{ major: 9 minor: 0 }}
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}}
platform_name: "CUDA"
dnn_version_info {{ major: 9 minor: 8 patch: 0 }}
device_description_str: "{description}"
"""


@dataclasses.dataclass(frozen=True)
class GpuChip:
    name: str
    hbm_bytes: int        # usable device memory as the CUDA driver reports it
    peak_tflops: float    # dense bf16
    bandwidth: int        # bytes/s
    description: str

    @property
    def target_config(self) -> str:
        return _DEVICE_INFO.format(bandwidth=self.bandwidth, memory=self.hbm_bytes, description=self.description)


# H100 SXM: XLA's h100_sxm.txtpb figures; H200: the same Hopper die with 141 GB HBM3e at 4.8 TB/s.
GPU_CHIPS = {c.name: c for c in (
    GpuChip("h100", 84_978_434_048, 989.0, 3_352_320_000_000, "NVIDIA H100 80GB HBM3"),
    GpuChip("h200", 150_754_820_096, 989.0, 4_800_000_000_000, "NVIDIA H200"),
)}


@dataclasses.dataclass(frozen=True)
class GpuTopology:
    name: str             # "h100-8", "2xh100-8" (2 hosts of 8)
    chip: GpuChip
    per_host: int
    hosts: int
    platform: str = "gpu"

    @property
    def num_devices(self) -> int:
        return self.per_host * self.hosts

    @property
    def num_slices(self) -> int:
        return 1

    @property
    def target(self) -> str:
        return f"cuda:1x{self.hosts}x{self.per_host}"


_NAME = re.compile(r"^(?:(\d+)x)?(h100|h200)-(\d+)$")


def parse_gpu_topology(name: str) -> GpuTopology | None:
    """'h100-8' (one node of 8), '4xh100-8' (4 nodes of 8); None if `name` names no GPU node."""
    m = _NAME.match(name.strip().lower())
    if not m:
        return None
    hosts, per_host = int(m.group(1) or 1), int(m.group(3))
    if per_host not in (1, 2, 4, 8) or hosts < 1:
        raise ValueError(f"{name!r}: expected {m.group(2)}-1, -2, -4 or -8 GPUs per node, optionally N nodes "
                         f"as '2x{m.group(2)}-8'")
    return GpuTopology(name, GPU_CHIPS[m.group(2)], per_host, hosts)


@contextlib.contextmanager
def stderr_to(path: pathlib.Path | None):
    """Send file descriptor 2 to `path` (appended; None: leave it): libtpu and the CUDA plugin write their
    start-up warnings there; keep them in the run's log instead."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def prepare_cuda_plugin(log_dir: str | pathlib.Path | None = None) -> bool:
    """Puts the side-installed CUDA plugin on sys.path with the settings a GPU-less compile needs and starts
    jax's backends (its start-up messages go to `log_dir`/plugin_stderr.log); call it before anything else
    touches jax's backends. True when a CUDA plugin is importable."""
    path = pathlib.Path(sys.prefix) / AOT_CUDA_DIR
    if path.is_dir() and str(path) not in sys.path:
        sys.path.append(str(path))
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("JAX_PALLAS_USE_MOSAIC_GPU", "0")
    found = importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
    with stderr_to(pathlib.Path(log_dir) / "plugin_stderr.log" if log_dir is not None else None):
        import jax  # only now, after the env set-up above: jax reads it when it loads
        jax.devices()  # discovers and loads the plugin now, inside the redirect
    return found


def gpu_devices(topo: GpuTopology) -> list:
    """The node(s)' GPU devices for ahead-of-time compilation (no GPU needed)."""
    if not prepare_cuda_plugin():
        raise RuntimeError("the CUDA compiler plugin is not installed: run `make setup-gpu-compiler` (it installs "
                           f"jax-cuda12-plugin/-pjrt in .venv/{AOT_CUDA_DIR})")
    from jax.experimental import topologies  # after prepare_cuda_plugin's env set-up, on purpose
    desc = topologies.get_topology_desc(platform="cuda", topology=f"1x{topo.hosts}x{topo.per_host}",
                                        target_config=topo.chip.target_config)
    devices = list(desc.devices)
    if len(devices) != topo.num_devices:
        raise RuntimeError(f"the CUDA plugin described {len(devices)} devices for {topo.name}, "
                           f"expected {topo.num_devices}")
    return devices
