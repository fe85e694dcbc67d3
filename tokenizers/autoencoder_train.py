"""What the image and video trainers share: the quantizer's loss terms and fit -> save -> eval.json.

Both train a `QuantizedAutoencoder` on uint8 media [N, (F,) H, W, 3] with random horizontal flips;
`image_train` and `video_train` add their presets, reconstruction loss and held-out metrics.
"""
from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers.data import to_float
from omni_tokenizers.quantizers import LFQ
from omni_tokenizers.training import fit

from omni.config import to_dict


class JobChecks:
    """Train-config mixin: `validate()` checks the model and loop configs and `eval_items`."""

    def validate(self):
        self.model.validate()
        self.loss.validate()
        self.train.validate()
        if self.eval_items <= 0:
            raise ValueError(f"eval_items must be > 0, got {self.eval_items}")
        return self


def quantizer_terms(model, z: jax.Array, zq: jax.Array, cfg, total: jax.Array, parts: dict):
    """LFQ adds its entropy (per-sample minus codebook) and commitment terms; FSQ needs none."""
    if isinstance(model.quantizer, LFQ):
        per_sample, codebook = model.quantizer.entropy_loss(z)
        commit = jnp.mean((z - jax.lax.stop_gradient(zq)) ** 2)
        total = total + cfg.w_entropy * (per_sample - codebook) + cfg.w_commit * commit
        parts.update(entropy=per_sample, codebook_entropy=codebook, commit=commit)
    return total, parts


def flip_sampler(items: np.ndarray, batch_size: int, seed: int, augment: bool) -> Callable[[int], jax.Array]:
    """step -> float batch of `items` (uint8 [N, ..., H, W, 3]) drawn with replacement, each flipped
    left-right with probability 1/2 when `augment`; batch s is the same after a restart."""
    width_axis = items.ndim - 2

    def data(step: int) -> jax.Array:
        rng = np.random.default_rng((seed, step))
        x = items[rng.integers(0, len(items), batch_size)]
        if augment:
            flip = rng.random(batch_size) < 0.5
            x = np.where(flip.reshape((batch_size,) + (1,) * (x.ndim - 1)), np.flip(x, axis=width_axis), x)
        return jnp.asarray(to_float(x))

    return data


def fit_and_save(tok, job, loss_fn, train_items: np.ndarray, evaluate: Callable[[Any], dict],
                 out_dir: pathlib.Path, *, desc: str, progress: bool, until: int | None) -> dict:
    """Fits `tok.model` on `train_items`, evaluating with `evaluate(tok)`; saves the tokenizer and
    `eval.json` (held-out metrics at the last step) to out_dir; returns fit's result."""

    def eval_fn(model):
        tok.refresh()
        return evaluate(tok)

    data = flip_sampler(train_items, job.train.batch_size, job.train.seed, job.augment)
    result = fit(tok.model, lambda m, b: loss_fn(m, b, job.loss), data, job.train, workdir=out_dir / "train",
                 eval_fn=eval_fn, progress=progress, desc=desc, until=until, job=to_dict(job))
    tok.refresh()
    tok.save(out_dir)
    (out_dir / "eval.json").write_text(json.dumps({"step": result["step"], **result["eval"]}, indent=2))
    return result
