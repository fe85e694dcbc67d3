"""Training and held-out evaluation of the image tokenizer (presets in configs/tokenizers_image.py)."""
from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers.core.autoencoder_train import JobChecks, fit_and_save, prepare, quantizer_terms
from omni_tokenizers.core.data import source_weights_option, to_float
from omni_tokenizers.core.quantizers import codebook_usage
from omni_tokenizers.image import ImageTokenizer, ImageTokenizerConfig, losses
from omni_tokenizers.image.metrics import psnr, ssim
from omni_tokenizers.trainers import TRAINERS

from omni.config import LoopConfig, MeshConfig, option


@dataclasses.dataclass
class ImageLossConfig:
    """Weights of the reconstruction terms (LFQ adds entropy and commitment terms)."""

    w_l1: float = option(1.0, "weight of the L1 reconstruction term")
    w_l2: float = option(0.0, "weight of the L2 reconstruction term")
    w_ssim: float = option(0.2, "weight of the (1 - SSIM) term")
    w_grad: float = option(0.2, "weight of the image-gradient L1 term")
    w_chroma: float = option(0.0, "weight of the opponent-chroma L1 term (keeps hue where codes are tight)")
    w_entropy: float = option(0.1, "LFQ: weight of the entropy term")
    w_commit: float = option(0.25, "LFQ: weight of the commitment term")

    def validate(self) -> ImageLossConfig:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"loss.{f.name} must be >= 0, got {getattr(self, f.name)}")
        if not any(getattr(self, k) > 0 for k in ("w_l1", "w_l2", "w_ssim", "w_grad")):
            raise ValueError("loss.w_l1, w_l2, w_ssim and w_grad are all 0: nothing to reconstruct with")
        return self


@dataclasses.dataclass
class ImageTrainConfig(JobChecks):
    model: ImageTokenizerConfig = dataclasses.field(default_factory=ImageTokenizerConfig)
    loss: ImageLossConfig = dataclasses.field(default_factory=ImageLossConfig)
    train: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    eval_items: int = option(128, "held-out images for periodic and final metrics")
    augment: bool = option(True, "random horizontal flips")
    colour_permute: float = option(
        0.0, "probability that a training item's RGB channels are put in another order (balances the hues a "
        "corpus has few of)")
    item_shape: tuple[int, ...] = option(
        (), "[H, W, 3] the preset is built for (ahead-of-time plans); () = the corpus spec")
    source_weights: tuple[tuple[str, float], ...] = source_weights_option()


def loss_fn(model, batch: jax.Array, cfg: ImageLossConfig):
    """batch: float [B, H, W, 3] in [0, 1] -> (loss, parts)."""
    recon, z, zq, _ = model(batch)
    total, parts = losses.image_loss(batch, recon, cfg.w_l1, cfg.w_l2, cfg.w_ssim, cfg.w_grad,
                                        cfg.w_chroma)
    total, parts = quantizer_terms(model, z, zq, cfg, total, parts)
    parts["psnr"] = jnp.mean(psnr(batch, jnp.clip(recon, 0, 1)))
    return total, parts


def evaluate(tok: ImageTokenizer, images: np.ndarray, batch_size: int = 64) -> dict[str, float]:
    """Round trip through encode/decode on uint8 [N, H, W, 3]: mean PSNR, SSIM, codebook usage."""
    p, s, ids_all = [], [], []
    for i in range(0, len(images), batch_size):
        x = to_float(images[i:i + batch_size])
        ids = tok.encode(x)
        y = tok.decode(ids, grid=(x.shape[1] // tok.downsample, x.shape[2] // tok.downsample))
        p.append(np.asarray(psnr(x, y)))
        if min(x.shape[1:3]) >= 11:
            s.append(np.asarray(ssim(x, y)))
        ids_all.append(np.asarray(ids))
    out = {"psnr": float(np.mean(np.concatenate(p)))}
    if s:
        out["ssim"] = float(np.mean(np.concatenate(s)))
    usage = codebook_usage(np.concatenate(ids_all), tok.vocab_size)
    out.update(codebook_usage=usage["usage"], codebook_perplexity=usage["perplexity"])
    return out


@TRAINERS.register("image", config=ImageTrainConfig)
def train(job: ImageTrainConfig, train_images, eval_images, out_dir: str | pathlib.Path, progress: bool = True,
          until: int | None = None) -> dict:
    """Fits a tokenizer on uint8 [H, W, 3] items (a sequence: a corpus field, a TFDS field, an array [N, ...]),
    streamed through grain; saves it to out_dir; returns the run's result with held-out metrics ("eval")."""
    job.validate()
    tok, first, held = prepare(ImageTokenizer, job, train_images, eval_images, "H, W, 3")
    tok.check_images(to_float(first[None]), "train_images")
    return fit_and_save(tok, job, loss_fn, train_images, lambda t: evaluate(t, held), pathlib.Path(out_dir),
                        desc="image", progress=progress, until=until)
