"""Shared by the sampling/export tests: a tiny model config and tiny untrained-but-valid tokenizers.

The config trains on synthetic data (16 image tokens, 12 video tokens, 2 audio levels of 32 codes); the
tokenizers are built to match it: text SentencePiece (300 pieces), image 16x16 -> 4x4 codes, video
9x8x8 -> 3x2x2 codes, audio 2 x 32 codes at 50 frames/s. Built once per process (cached). Weights are
drawn on the host (`omni.sampling.random_weights`): XLA compiles every initializer separately, which
costs far more CPU time than these tests.
"""
from __future__ import annotations

import functools
import pathlib
import tempfile

import numpy as np

from omni.sampling.random_weights import random_module, random_omni_model

TEXTS = [f"a {c} goat number {i} eats {f} near the river." for i, (c, f) in
         enumerate(zip(["red", "blue", "green", "small", "big"] * 12, ["grass", "hay", "bread", "leaves"] * 15))]


def tiny_model(cfg, seed: int = 0):
    """The OmniModel of `cfg` with host-drawn weights (std = model.init_std)."""
    return random_omni_model(cfg, seed)


def tiny_config(*overrides: str):
    from omni.config import load_config
    return load_config("tiny", ["vocab.text=300", "vocab.image=16", "vocab.audio=64", "vocab.video=16",
                                *overrides])


@functools.lru_cache(maxsize=1)
def tokenizer_dir() -> pathlib.Path:
    """A folder with text/, image/, audio/, video/ tokenizers saved in their own format."""
    from flax import nnx
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.audio.codec import AudioCodec, AudioCodecConfig
    from omni_tokenizers.image import ImageAutoencoder, ImageTokenizer, ImageTokenizerConfig
    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
    from omni_tokenizers.video import VideoAutoencoder, VideoTokenizer, VideoTokenizerConfig
    root = pathlib.Path(tempfile.mkdtemp(prefix="omni_sample_tok_"))
    TextTokenizer.train(TEXTS, TextTokenizerConfig(vocab_size=300)).save(root / "text")
    ic = ImageTokenizerConfig(channels=(8, 8), res_blocks=0, levels=(4, 4))
    ImageTokenizer(ic, model=random_module(lambda: ImageAutoencoder(ic, nnx.Rngs(0)), 1)).save(root / "image")
    vc = VideoTokenizerConfig(channels=(8, 8), kts=(1, 3), levels=(4, 4))
    VideoTokenizer(vc, model=random_module(lambda: VideoAutoencoder(vc, nnx.Rngs(0)), 2)).save(root / "video")
    ac = AudioCodecConfig(hop=320, enc_n_fft=640, dec_n_fft=640, channels=16, enc_blocks=1, dec_blocks=1,
                          latent_dim=8, num_quantizers=2, codebook_size=32)
    AudioTokenizer(ac, random_module(lambda: AudioCodec(ac, rngs=nnx.Rngs(0)), 3)).save(root / "audio")
    return root


@functools.lru_cache(maxsize=1)
def tokenizers() -> dict:
    from omni_tokenizers.registry import load_all
    return load_all(tokenizer_dir())


def tone(seconds: float = 0.5, rate: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def gradient_image(size: int = 24) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    return np.stack([x, y, 0.5 * (x + y)], -1).astype(np.float32)
