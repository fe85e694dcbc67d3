"""Attention kernels: block-sparse Pallas flash attention (TPU + GPU), decode path, cuDNN wrapper.

Importing this package registers the `pallas` and `cudnn` impls with `omni.attention`.
"""
from __future__ import annotations

import jax

from omni.attention import register
from omni.kernels.cudnn import cudnn_attention
from omni.kernels.decode import decode_attention
from omni.kernels.dispatch import pallas_attention
from omni.kernels.flash import BlockSizes, count_computed_tiles, flash_attention


def _is_cuda(backend: str) -> bool:
    if backend != "gpu":
        return False
    try:
        return "rocm" not in jax.devices("gpu")[0].client.platform_version.lower()
    except Exception:  # noqa: BLE001 - no GPU client: not available
        return False


register("pallas", pallas_attention, available=lambda backend: backend in ("tpu", "gpu"), interpretable=True)
register("cudnn", cudnn_attention, available=_is_cuda)

__all__ = ["BlockSizes", "count_computed_tiles", "cudnn_attention", "decode_attention", "flash_attention",
           "pallas_attention"]
