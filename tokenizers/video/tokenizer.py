"""Video tokenizer: causal 3-D encoder -> FSQ/LFQ codes -> causal 3-D decoder (MAGVIT-v2 style).

encode: float32 [B, F, H, W, 3] in [0, 1], F = 1 + temporal_group * k -> int32 [B, (1 + k) * h * w],
latent-frame-major, raster order within a frame (h = H/d, w = W/d). The first frame is encoded alone,
so its h*w tokens are the same whether the clip has 1 or F frames. decode: the inverse.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
from flax import nnx
from omni_tokenizers.core import base
from omni_tokenizers.core.autoencoder import AutoencoderTokenizer, LatentGrid, QuantizedAutoencoder
from omni_tokenizers.core.quantizers import make_quantizer
from omni_tokenizers.registry import TOKENIZERS
from omni_tokenizers.video.causal import VideoDecoder, VideoEncoder

from omni.dataclass_config import option


@dataclasses.dataclass
class VideoTokenizerConfig(LatentGrid):
    """Architecture; spatial downsampling is 2 ** len(channels); `kts` are per-stage temporal kernels."""

    channels: tuple[int, ...] = option((32, 64, 96), "encoder stage widths; each stage downsamples 2x in space")
    kts: tuple[int, ...] = option((1, 3, 3), "temporal kernel per stage")
    temporal_group: int = option(4, "frames per latent step after the first (temporal compression)")
    quantizer: Literal["fsq", "lfq"] = option("fsq", "FSQ (levels) or LFQ (binary)")
    levels: tuple[int, ...] = option((8, 8, 8, 8), "FSQ levels per latent channel (codebook = product)")
    shortcut: bool = option(False, "linear patch shortcut around the convs (trains faster)")
    frame_size: int = option(32, "frame side decode() assumes when no grid is given")
    max_frames: int = option(257, "longer clips are refused")
    max_side: int = option(512, "larger frames are refused (memory)")

    def validate(self) -> VideoTokenizerConfig:
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if len(self.kts) != len(self.channels) or any(k < 1 for k in self.kts):
            raise ValueError(f"kts needs one temporal kernel >= 1 per stage {self.channels}, got {self.kts}")
        if self.temporal_group < 1:
            raise ValueError(f"temporal_group must be >= 1, got {self.temporal_group}")
        for k in ("frame_size", "max_side"):
            v = getattr(self, k)
            if v <= 0 or v % self.downsample:
                raise ValueError(f"{k} must be a positive multiple of the downsampling {self.downsample}, got {v}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        make_quantizer(self.quantizer, self.levels)
        return self


class VideoAutoencoder(QuantizedAutoencoder):
    """x [B, F, H, W, 3] -> (recon, z, zq [B, 1+k, h, w, D], ids [B, 1+k, h, w])."""

    def __init__(self, cfg: VideoTokenizerConfig, rngs: nnx.Rngs):
        d, ch, kts = len(cfg.levels), tuple(cfg.channels), tuple(cfg.kts)
        self.encoder = VideoEncoder(ch, kts, cfg.temporal_group, d, rngs, cfg.shortcut)
        self.decoder = VideoDecoder(ch, kts, cfg.temporal_group, d, rngs, cfg.shortcut)
        self.quantizer = make_quantizer(cfg.quantizer, cfg.levels)


@TOKENIZERS.register("video_causal")
class VideoTokenizer(AutoencoderTokenizer):
    """Discrete causal video tokenizer (see module docstring for layouts)."""

    kind = "video_causal"
    modality = "video"
    config_cls = VideoTokenizerConfig
    model_cls = VideoAutoencoder

    @property
    def temporal_group(self) -> int:
        return self.config.temporal_group

    def check_frames(self, frames: int, name: str = "video") -> None:
        tg = self.temporal_group
        if frames < 1 or (frames - 1) % tg:
            raise ValueError(f"{name} must have 1 + {tg}*k frames (1, {1 + tg}, {1 + 2 * tg}, ...), got {frames}")
        base.check_max(frames, self.config.max_frames, f"{name} frame count")

    def check_videos(self, x, name: str = "video"):
        x = base.check_media(x, name, "B,F,H,W,3")
        self.check_frames(int(x.shape[1]), name)
        for ax, what in ((2, "height"), (3, "width")):
            base.check_multiple(int(x.shape[ax]), self.downsample, f"{name} {what}")
            base.check_max(int(x.shape[ax]), self.config.max_side, f"{name} {what}")
        return x

    def encode(self, videos) -> jax.Array:
        """float [B, F, H, W, 3] in [0, 1] -> int32 [B, (1 + (F-1)/tg) * (H/d) * (W/d)]."""
        return self._encode_checked(self.check_videos(videos))

    def decode(self, ids, grid: tuple[int, int, int] | None = None) -> jax.Array:
        """int [B, T] -> float32 [B, F, H, W, 3]; grid = (latent frames, h, w), default frames of
        config.frame_size squared (T must then be a multiple of (frame_size/d)**2)."""
        ids = base.check_ids(ids, self.vocab_size, "video ids", ndim=2)
        return self._decode_grid(ids, self._grid(int(ids.shape[1]), grid))

    def _grid(self, n: int, grid) -> tuple[int, int, int]:
        if grid is not None:
            t, h, w = (int(g) for g in grid)
            if t * h * w != n:
                raise ValueError(f"video ids: grid {t}x{h}x{w} needs {t * h * w} tokens per item, got {n}")
            return t, h, w
        s = self.config.frame_size // self.downsample
        if s < 1 or n % (s * s):
            raise ValueError(f"video ids: {n} tokens is not a whole number of {s}x{s} latent frames; "
                             f"pass grid=(latent_frames, h, w)")
        return n // (s * s), s, s

    def latent_grid(self, shape) -> tuple[int, int, int]:
        """(F, H, W, 3) -> (latent frames, h, w)."""
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"video shape must be (F, H, W, 3), got {tuple(shape)}")
        self.check_frames(int(shape[0]))
        for v in shape[1:3]:
            base.check_multiple(int(v), self.downsample, "video side")
        return 1 + (shape[0] - 1) // self.temporal_group, shape[1] // self.downsample, shape[2] // self.downsample

    def decode_like(self, ids, shape) -> jax.Array:
        """Decodes ids of clips of `shape` (F, H, W, 3)."""
        return self.decode(ids, grid=self.latent_grid(shape))

    def tokens_per_item(self, shape) -> int:
        return math.prod(self.latent_grid(shape))
