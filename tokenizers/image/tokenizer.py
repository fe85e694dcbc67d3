"""Image tokenizer: conv encoder -> FSQ/LFQ codes on an (H/d) x (W/d) grid -> conv decoder.

encode: float32 [B, H, W, 3] in [0, 1] -> int32 [B, (H/d)*(W/d)*G] (raster order; G = code_groups tokens per
position, adjacent); decode: int32 [B, h*w*G] -> float32 [B, H, W, 3] in [0, 1]. H, W must be multiples of
d = 2**len(channels).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
from flax import nnx
from omni_tokenizers.core import base
from omni_tokenizers.core.autoencoder import AutoencoderTokenizer, LatentGrid, QuantizedAutoencoder, group_size
from omni_tokenizers.core.conv import Decoder2D, Encoder2D
from omni_tokenizers.core.quantizers import make_quantizer
from omni_tokenizers.registry import TOKENIZERS

from omni.dataclass_config import option


@dataclasses.dataclass
class ImageTokenizerConfig(LatentGrid):
    """Architecture; downsampling is 2 ** len(channels) (8x: 3 stages, 16x: 4 stages)."""

    channels: tuple[int, ...] = option((32, 64, 128), "encoder stage widths; each stage downsamples 2x")
    res_blocks: int = option(1, "residual blocks per stage")
    quantizer: Literal["fsq", "lfq"] = option("fsq", "FSQ (levels) or LFQ (binary)")
    levels: tuple[int, ...] = option((8, 8, 8, 8), "FSQ levels per latent channel (codebook = product); LFQ: all 2")
    code_groups: int = option(1, "tokens per latent position: the levels split into this many contiguous groups of "
                                 "equal product, one token each (8,5,5,5,8,5,5,5 with 2: two tokens of 1000 codes)")
    max_side: int = option(1024, "larger inputs are refused (memory)")

    def validate(self) -> ImageTokenizerConfig:
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if self.res_blocks < 0:
            raise ValueError(f"res_blocks must be >= 0, got {self.res_blocks}")
        if self.max_side < self.downsample:
            raise ValueError(f"max_side must be >= the downsampling {self.downsample}, got {self.max_side}")
        make_quantizer(self.quantizer, self.levels)  # validates levels
        group_size(self.levels, self.code_groups)
        return self


class ImageAutoencoder(QuantizedAutoencoder):
    """The trainable network: x [B, H, W, 3] -> (recon [B, H, W, 3], z, zq [B, h, w, D], ids [B, h, w])."""

    def __init__(self, cfg: ImageTokenizerConfig, rngs: nnx.Rngs):
        d = len(cfg.levels)
        self.encoder = Encoder2D(tuple(cfg.channels), cfg.res_blocks, d, rngs)
        self.decoder = Decoder2D(tuple(cfg.channels), cfg.res_blocks, d, rngs)
        self.quantizer = make_quantizer(cfg.quantizer, cfg.levels)


@TOKENIZERS.register("image_conv")
class ImageTokenizer(AutoencoderTokenizer):
    """Discrete image tokenizer: conv encoder -> FSQ/LFQ ids (raster order) -> conv decoder."""

    kind = "image_conv"
    modality = "image"
    config_cls = ImageTokenizerConfig
    model_cls = ImageAutoencoder

    # ---- contract ---------------------------------------------------------------------------
    def check_images(self, x, name: str = "images"):
        x = base.check_media(x, name, "B,H,W,3")
        for ax, what in ((1, "height"), (2, "width")):
            base.check_multiple(int(x.shape[ax]), self.downsample, f"{name} {what}")
            base.check_max(int(x.shape[ax]), self.config.max_side, f"{name} {what}")
        return x

    def encode(self, images) -> jax.Array:
        """float [B, H, W, 3] in [0, 1] -> int32 [B, (H/d)*(W/d)*code_groups]."""
        return self._encode_checked(self.check_images(images))

    def decode(self, ids, grid: tuple[int, int] | None = None) -> jax.Array:
        """int [B, h*w*code_groups] -> float32 [B, h*d, w*d, 3]; `grid` = (h, w) positions, default square."""
        ids = base.check_ids(ids, self.vocab_size, "image ids", ndim=2)
        return self._decode_grid(ids, self._grid(int(ids.shape[1]), grid))

    def _grid(self, n: int, grid) -> tuple[int, int]:
        if n % self.groups:
            raise ValueError(f"image ids: {n} tokens is not a multiple of the {self.groups} tokens per position")
        g, n = self.groups, n // self.groups  # n: latent positions
        if grid is None:
            s = math.isqrt(n)
            if s * s != n:
                raise ValueError(f"image ids: {n * g} tokens is not a square grid; pass grid=(h, w)")
            return s, s
        h, w = (int(v) for v in grid)
        if h * w != n:
            raise ValueError(f"image ids: grid {h}x{w} needs {h * w * g} tokens per item, got {n * g}")
        return h, w

    def tokens_per_item(self, shape) -> int:
        """shape (H, W, 3) -> (H/d) * (W/d) * code_groups."""
        if len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"image shape must be (H, W, 3), got {tuple(shape)}")
        for v in shape[:2]:
            base.check_multiple(int(v), self.downsample, "image side")
        return (shape[0] // self.downsample) * (shape[1] // self.downsample) * self.groups
