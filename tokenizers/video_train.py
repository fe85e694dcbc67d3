"""Training and held-out evaluation of the video tokenizer (presets `tiny` for tests, `demo` for make demo)."""
from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers import losses
from omni_tokenizers.autoencoder_train import JobChecks, fit_and_save, prepare, quantizer_terms
from omni_tokenizers.data import to_float
from omni_tokenizers.image_train import ImageLossConfig
from omni_tokenizers.metrics import frames_psnr
from omni_tokenizers.quantizers import codebook_usage
from omni_tokenizers.video import VideoTokenizer, VideoTokenizerConfig

from omni.config import LoopConfig, MeshConfig


@dataclasses.dataclass
class VideoTrainConfig(JobChecks):
    model: VideoTokenizerConfig = dataclasses.field(default_factory=VideoTokenizerConfig)
    loss: ImageLossConfig = dataclasses.field(default_factory=ImageLossConfig)
    train: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    eval_items: int = 64
    augment: bool = True   # random horizontal flips
    item_shape: tuple[int, ...] = ()  # [F, H, W, 3] the preset is built for (ahead-of-time plans); () = corpus spec


def preset(name: str) -> VideoTrainConfig:
    """`tiny`: 4x spatial, FSQ 1000, seconds on CPU (tests); `demo`: 9x32x32 -> 3x8x8 = 192 tokens, FSQ 4096;
    `base`: 17x128x128 -> (1 + 4) x 16x16 = 1280 tokens, FSQ 15360 (8x spatial, 4x temporal compression).

    The demo preset downsamples 4x in space and 4x in time (12 bits per 4x4x4 block of pixels, as many bits
    per pixel as the image tokenizer's 12 per 8x8), so its 2304 bits per clip stay under the ~5200 that
    full-resolution WebP needs per clip (~580 per 32x32 frame).
    """
    if name == "tiny":
        return VideoTrainConfig(
            model=VideoTokenizerConfig(channels=(16, 32), kts=(1, 3), levels=(8, 5, 5, 5), frame_size=16,
                                       shortcut=True),
            train=LoopConfig(steps=150, batch_size=8, learning_rate=1e-2, warmup_steps=10,
                                  log_every=20, eval_every=1000, checkpoint_every=1000),
            eval_items=16)
    if name == "demo":
        return VideoTrainConfig(
            model=VideoTokenizerConfig(channels=(32, 64), kts=(1, 3), levels=(8, 8, 8, 8), shortcut=True),
            loss=ImageLossConfig(w_l1=1.0, w_l2=1.0, w_ssim=0.1, w_grad=0.1),
            train=LoopConfig(steps=500, batch_size=8, learning_rate=5e-3, warmup_steps=30,
                                  log_every=20, eval_every=250, checkpoint_every=200),
            eval_items=64)
    if name == "base":  # 17x128x128 -> (1 + 4) x 16x16 = 1280 tokens, FSQ 15360
        return VideoTrainConfig(
            model=VideoTokenizerConfig(channels=(64, 128, 256), kts=(1, 3, 3), temporal_group=4,
                                       levels=(8, 8, 8, 6, 5), shortcut=True, frame_size=128),
            loss=ImageLossConfig(w_l1=1.0, w_l2=1.0, w_ssim=0.1, w_grad=0.1),
            train=LoopConfig(steps=100_000, batch_size=64, learning_rate=2e-4, warmup_steps=2000, log_every=100,
                             eval_every=5000, checkpoint_every=2000),
            mesh=MeshConfig(data=-1), eval_items=256, item_shape=(17, 128, 128, 3))
    raise ValueError(f"unknown video preset {name!r}; expected 'tiny', 'demo' or 'base'")


def _frames(x: jax.Array) -> jax.Array:
    return x.reshape((-1,) + x.shape[2:])


def loss_fn(model, batch: jax.Array, cfg: ImageLossConfig):
    """batch: float [B, F, H, W, 3] in [0, 1] -> (loss, parts); image terms averaged over frames."""
    recon, z, zq, _ = model(batch)
    total, parts = losses.image_loss(_frames(batch), _frames(recon), cfg.w_l1, cfg.w_l2, cfg.w_ssim, cfg.w_grad)
    total, parts = quantizer_terms(model, z, zq, cfg, total, parts)
    parts["psnr"] = jnp.mean(frames_psnr(batch, jnp.clip(recon, 0, 1)))
    return total, parts


def evaluate(tok: VideoTokenizer, videos: np.ndarray, batch_size: int = 16) -> dict[str, float]:
    """Round trip on uint8 [N, F, H, W, 3]: mean per-frame PSNR (and of the first frame), usage."""
    p, ids_all = [], []
    for i in range(0, len(videos), batch_size):
        x = to_float(videos[i:i + batch_size])
        ids = tok.encode(x)
        y = tok.decode_like(ids, x.shape[1:])
        p.append(np.asarray(frames_psnr(x, y)))
        ids_all.append(np.asarray(ids))
    p = np.concatenate(p)
    usage = codebook_usage(np.concatenate(ids_all), tok.vocab_size)
    return {"psnr": float(p.mean()), "psnr_first_frame": float(p[:, 0].mean()),
            "codebook_usage": usage["usage"], "codebook_perplexity": usage["perplexity"]}


def train(job: VideoTrainConfig, train_videos, eval_videos, out_dir: str | pathlib.Path, progress: bool = True,
          until: int | None = None) -> dict:
    """Fits a tokenizer on uint8 [F, H, W, 3] items (a sequence: a corpus field, a TFDS field, an array [N, ...]),
    streamed through grain; saves it to out_dir; returns the run's result with held-out metrics ("eval")."""
    job.validate()
    tok, first, held = prepare(VideoTokenizer, job, train_videos, eval_videos, "F, H, W, 3")
    tok.check_videos(to_float(first[None]), "train_videos")
    return fit_and_save(tok, job, loss_fn, train_videos, lambda t: evaluate(t, held), pathlib.Path(out_dir),
                        desc="video", progress=progress, until=until)
