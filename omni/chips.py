"""TPU chip generations: memory sizes, peak FLOP/s and how their slices are named and laid out.

One table for the kernels (VMEM budgets for tile sizes), the compile plan (HBM per device, topologies)
and the throughput metrics (peak FLOP/s). HBM and peak are the vendor's datasheet figures; the VMEM
sizes were measured with the TPU compiler (libtpu 0.0.42): the largest single scratch buffer a Pallas
kernel may allocate, and the default scoped limit that a kernel's intermediate values must fit in
unless its CompilerParams raise `vmem_limit_bytes`.
"""
from __future__ import annotations

import dataclasses

MiB = 1 << 20
GiB = 1 << 30


@dataclasses.dataclass(frozen=True)
class TpuChip:
    name: str                  # slice-name prefix: v4, v5e, v5p, v6e
    device_kinds: tuple[str, ...]  # jax `device_kind` strings of this generation
    topology_prefix: str       # prefix of libtpu's topology names ("v5:2x2x1")
    chip_config: str           # libtpu chip config ("megacore": one device per chip over both cores)
    dims: int                  # torus dimensions of a slice (3 for v4/v5p, 2 for v5e/v6e)
    cores_per_chip_in_name: int  # v4-8 / v5p-8 count TensorCores (4 chips); v5e-4 / v6e-4 count chips
    hbm_bytes: int             # HBM per device (per chip: megacore chips are one device)
    peak_tflops: float         # dense bf16 TFLOP/s per device
    vmem_bytes: int            # physical VMEM per core (largest allocation the compiler accepts)
    scoped_vmem_bytes: int     # default scoped VMEM limit for a kernel's buffers and intermediates


TPU_CHIPS: dict[str, TpuChip] = {c.name: c for c in (
    TpuChip("v4", ("TPU v4",), "v4", "megacore", 3, 2, 32 * GiB, 275.0, 16 * MiB, 16 * MiB),
    TpuChip("v5e", ("TPU v5 lite", "TPU v5e"), "v5e", "default", 2, 1, 16 * GiB, 197.0, 128 * MiB, 16 * MiB),
    TpuChip("v5p", ("TPU v5p", "TPU v5"), "v5", "megacore", 3, 2, 95 * GiB, 459.0, 64 * MiB, 16 * MiB),
    TpuChip("v6e", ("TPU v6 lite", "TPU v6e"), "v6e", "default", 2, 1, 32 * GiB, 918.0, 128 * MiB, 32 * MiB),
)}


def chip_for_device_kind(kind: str) -> TpuChip | None:
    """The generation of a jax `device_kind` ("TPU v5 lite" -> v5e), or None if it is not a known TPU.

    Longer (more specific) kinds are matched first, so "TPU v5 lite" never reads as v5p's "TPU v5"."""
    kind = kind.lower()
    pairs = sorted(((k.lower(), c) for c in TPU_CHIPS.values() for k in c.device_kinds), key=lambda p: -len(p[0]))
    for key, chip in pairs:
        if kind == key or kind.startswith(key + " ") or kind.startswith(key):
            return chip
    return None
