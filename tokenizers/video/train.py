"""Training and held-out evaluation of the video tokenizer (presets in configs/tokenizers_video.py)."""
from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers.core.autoencoder_train import JobChecks, fit_and_save, prepare, quantizer_terms
from omni_tokenizers.core.data import source_weights_option, to_float
from omni_tokenizers.core.quantizers import codebook_usage
from omni_tokenizers.image import losses
from omni_tokenizers.image.metrics import frames_psnr
from omni_tokenizers.image.train import ImageLossConfig
from omni_tokenizers.trainers import TRAINERS
from omni_tokenizers.video import VideoTokenizer, VideoTokenizerConfig

from omni.config import LoopConfig, MeshConfig, option


@dataclasses.dataclass
class VideoTrainConfig(JobChecks):
    model: VideoTokenizerConfig = dataclasses.field(default_factory=VideoTokenizerConfig)
    loss: ImageLossConfig = dataclasses.field(default_factory=ImageLossConfig)
    train: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    eval_items: int = option(64, "held-out clips for periodic and final metrics")
    augment: bool = option(True, "random horizontal flips")
    colour_permute: float = option(
        0.0, "probability that a training item's RGB channels are put in another order (balances the hues a "
        "corpus has few of)")
    item_shape: tuple[int, ...] = option(
        (), "[F, H, W, 3] the preset is built for (ahead-of-time plans); () = the corpus spec")
    source_weights: tuple[tuple[str, float], ...] = source_weights_option()


def _frames(x: jax.Array) -> jax.Array:
    return x.reshape((-1,) + x.shape[2:])


def loss_fn(model, batch: jax.Array, cfg: ImageLossConfig):
    """batch: float [B, F, H, W, 3] in [0, 1] -> (loss, parts); image terms averaged over frames."""
    recon, z, zq, _ = model(batch)
    total, parts = losses.image_loss(_frames(batch), _frames(recon), cfg.w_l1, cfg.w_l2, cfg.w_ssim, cfg.w_grad,
                                     cfg.w_chroma)
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


@TRAINERS.register("video", config=VideoTrainConfig)
def train(job: VideoTrainConfig, train_videos, eval_videos, out_dir: str | pathlib.Path, progress: bool = True,
          until: int | None = None) -> dict:
    """Fits a tokenizer on uint8 [F, H, W, 3] items (a sequence: a corpus field, a TFDS field, an array [N, ...]),
    streamed through grain; saves it to out_dir; returns the run's result with held-out metrics ("eval")."""
    job.validate()
    tok, first, held = prepare(VideoTokenizer, job, train_videos, eval_videos, "F, H, W, 3")
    tok.check_videos(to_float(first[None]), "train_videos")
    return fit_and_save(tok, job, loss_fn, train_videos, lambda t: evaluate(t, held), pathlib.Path(out_dir),
                        desc="video", progress=progress, until=until)
