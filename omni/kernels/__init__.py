"""Attention kernels: block-sparse Pallas flash attention (TPU + GPU) and a cuDNN wrapper.

Each implementation registers itself where it is defined, in `omni.attention_ref.IMPLEMENTATIONS` (the
leaf these modules import): `pallas` in dispatch.py, `cudnn` in cudnn.py. `omni.attention` chooses
among them; nothing here imports it.
"""
from __future__ import annotations

from omni.kernels.cudnn import cudnn_attention
from omni.kernels.dispatch import pallas_attention
from omni.kernels.flash import BlockSizes, count_computed_tiles, flash_attention

__all__ = ["BlockSizes", "count_computed_tiles", "cudnn_attention", "flash_attention", "pallas_attention"]
