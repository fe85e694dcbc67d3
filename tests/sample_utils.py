"""Shared by the sampling/export tests: a tiny model config and tiny untrained-but-valid tokenizers.

The config trains on synthetic data (16 image tokens, 12 video tokens, 2 audio levels of 32 codes); the
tokenizers are built to match it: text SentencePiece (300 pieces), image 16x16 -> 4x4 codes, video
9x8x8 -> 3x2x2 codes, audio 2 x 32 codes at 50 frames/s. Built once per process (cached). Weights are
drawn on the host (`host_init`): XLA compiles every initializer separately, which costs far more CPU
time than these tests.
"""
from __future__ import annotations

import functools
import pathlib
import tempfile

import jax
import numpy as np

TEXTS = [f"a {c} goat number {i} eats {f} near the river." for i, (c, f) in
         enumerate(zip(["red", "blue", "green", "small", "big"] * 12, ["grass", "hay", "bread", "leaves"] * 15))]


def host_init(factory, seed: int, std: float | None = None):
    """Builds the NNX module `factory()` abstractly and fills it from NumPy: norms/scales 1, biases 0,
    flags True, other arrays normal with `std` (default 1/sqrt(fan-in))."""
    from flax import nnx
    graphdef, state = nnx.split(nnx.eval_shape(factory))
    rng = np.random.default_rng(seed)
    flat = nnx.to_flat_state(state)
    for path, v in flat:
        x, name = v.get_value(), str(path[-1])
        if x.dtype == bool:
            a = np.ones(x.shape, bool)
        elif "norm" in name or name in ("scale", "cluster_size"):
            a = np.ones(x.shape, x.dtype)
        elif name == "bias" or x.ndim < 2:
            a = np.zeros(x.shape, x.dtype)
        else:
            sd = std if std is not None else 1.0 / np.sqrt(np.prod(x.shape[:-1]))
            a = (rng.standard_normal(x.shape) * sd).astype(x.dtype)
        v.set_value(jax.numpy.asarray(a))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def tiny_model(cfg, seed: int = 0):
    """The OmniModel of `cfg` with host-drawn weights (std = model.init_std)."""
    from flax import nnx

    from omni.model import OmniModel
    return host_init(lambda: OmniModel(cfg.model, cfg.vocab.build(), rngs=nnx.Rngs(params=0)), seed,
                     cfg.model.init_std)


def tiny_config(*overrides: str):
    from omni.config import load_config
    return load_config("tiny", ["vocab.text=300", "vocab.image=16", "vocab.audio=64", "vocab.video=16",
                                *overrides])


@functools.lru_cache(maxsize=1)
def tokenizer_dir() -> pathlib.Path:
    """A folder with text/, image/, audio/, video/ tokenizers saved in their own format."""
    from flax import nnx
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.audio_codec import AudioCodec, AudioCodecConfig
    from omni_tokenizers.image import ImageAutoencoder, ImageTokenizer, ImageTokenizerConfig
    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
    from omni_tokenizers.video import VideoAutoencoder, VideoTokenizer, VideoTokenizerConfig
    root = pathlib.Path(tempfile.mkdtemp(prefix="omni_sample_tok_"))
    TextTokenizer.train(TEXTS, TextTokenizerConfig(vocab_size=300)).save(root / "text")
    ic = ImageTokenizerConfig(channels=(8, 8), res_blocks=0, levels=(4, 4))
    ImageTokenizer(ic, model=host_init(lambda: ImageAutoencoder(ic, nnx.Rngs(0)), 1)).save(root / "image")
    vc = VideoTokenizerConfig(channels=(8, 8), kts=(1, 3), levels=(4, 4))
    VideoTokenizer(vc, model=host_init(lambda: VideoAutoencoder(vc, nnx.Rngs(0)), 2)).save(root / "video")
    ac = AudioCodecConfig(hop=320, enc_n_fft=640, dec_n_fft=640, channels=16, enc_blocks=1, dec_blocks=1,
                          latent_dim=8, num_quantizers=2, codebook_size=32)
    AudioTokenizer(ac, host_init(lambda: AudioCodec(ac, rngs=nnx.Rngs(0)), 3)).save(root / "audio")
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
