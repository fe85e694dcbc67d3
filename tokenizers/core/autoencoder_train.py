"""What the image and video trainers share: the quantizer's loss terms and fit -> save -> eval.json.

Both train a `QuantizedAutoencoder` on uint8 media items [(F,) H, W, 3] with random horizontal flips;
`omni_tokenizers.image.train` and `omni_tokenizers.video.train` add their reconstruction loss and held-out metrics.
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from omni_tokenizers.core.data import first_items, flip, permute_channels, to_float
from omni_tokenizers.core.quantizers import LFQ
from omni_tokenizers.core.training import fit

from omni.config import check_source_weights


class JobChecks:
    """Train-config mixin: `validate()` checks the model, loop and mesh configs, `eval_items`, `colour_permute`
    and `source_weights`."""

    def validate(self):
        self.model.validate()
        self.loss.validate()
        self.train.validate()
        self.mesh.validate()
        if self.eval_items <= 0:
            raise ValueError(f"eval_items must be > 0, got {self.eval_items}")
        if not 0.0 <= self.colour_permute <= 1.0:
            raise ValueError(f"colour_permute must be a probability in [0, 1], got {self.colour_permute}")
        check_source_weights(self.source_weights, "source_weights")
        return self


def quantizer_terms(model, z: jax.Array, zq: jax.Array, cfg, total: jax.Array, parts: dict):
    """LFQ adds its entropy (per-sample minus codebook) and commitment terms; FSQ needs none."""
    if isinstance(model.quantizer, LFQ):
        per_sample, codebook = model.quantizer.entropy_loss(z)
        commit = jnp.mean((z - jax.lax.stop_gradient(zq)) ** 2)
        total = total + cfg.w_entropy * (per_sample - codebook) + cfg.w_commit * commit
        parts.update(entropy=per_sample, codebook_entropy=codebook, commit=commit)
    return total, parts


def media_transform(augment: bool, width_axis: int, colour_permute: float = 0.0) -> Callable:
    """item uint8 [..., H, W, 3] -> {"media": float32 in [0, 1]}, flipped left-right with probability 1/2
    when `augment` (`width_axis` counts from the item's first axis), its colour channels put in another order
    with probability `colour_permute`."""

    def transform(item, rng):
        x = np.asarray(item)
        if augment:
            x = flip(x, rng, width_axis)
        x = permute_channels(x, rng, colour_permute)
        return {"media": to_float(x)}

    return transform


def autoencoder_init(tok_cls, cfg, seed: int) -> Callable:
    """Builds `tok_cls.model_cls(cfg)` as `base.init_module` does (rbg PRNG from `seed`); traceable."""
    return lambda: tok_cls.model_cls(cfg, nnx.Rngs(jax.random.key(int(seed), impl="rbg")))


def prepare(tok_cls, job, train_items, eval_items, layout: str):
    """(tokenizer with shape-only weights, first training item, held-out uint8 array [N, ...]) after checking
    that training items are uint8 [layout]; only job.eval_items held-out items are read."""
    first = np.asarray(first_items(train_items, 1, "training items")[0])
    if first.ndim != len(layout.split(",")) or first.dtype != np.uint8:
        raise ValueError(f"training items must be uint8 [{layout}], got {first.dtype} {first.shape}")
    tok = tok_cls(job.model, model=nnx.eval_shape(autoencoder_init(tok_cls, job.model, job.train.seed)))
    held = np.stack(first_items(eval_items, job.eval_items, "held-out items")).astype(np.uint8)
    return tok, first, held


def fit_and_save(tok, job, loss_fn, train_items, evaluate: Callable[[Any], dict],
                 out_dir: pathlib.Path, *, desc: str, progress: bool, until: int | None) -> dict:
    """Fits `tok.model` on `train_items` (a sequence of uint8 media, e.g. a corpus field or an array)
    through the one training loop, evaluating with `evaluate(tok)`; saves the tokenizer and eval.json
    (held-out metrics at the last step) to out_dir."""
    width_axis = 2 if tok.modality == "video" else 1  # items are [H, W, 3] or [F, H, W, 3]
    return fit(desc, job, tok, lambda m, b, key: loss_fn(m, b["media"], job.loss), train_items,
               media_transform(job.augment, width_axis, job.colour_permute), out_dir, evaluate=evaluate,
               init=autoencoder_init(type(tok), job.model, job.train.seed), progress=progress, until=until)

