"""Next-token loss per target modality on its own vocabulary slice, plus z-loss."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from omni import modality as mod
from omni.attention import MaskInfo


def batch_info(batch) -> MaskInfo:
    return MaskInfo(batch["segment_ids"], batch["positions"], batch["span_ids"])


def loss_fn(model, batch, z_loss: float | None = None):
    """Returns (mean loss incl. z-loss, aux) for a batch of the training contract.

    aux: `nll` (mean), `z_loss`, `tokens`, and per modality `loss/<m>` and `tokens/<m>`.
    """
    z = model.cfg.z_loss if z_loss is None else z_loss
    h = model(batch["inputs"], batch["input_modality"], batch_info(batch))
    lse, tgt = model.token_scores(h, batch["targets"], batch["target_modality"], model.cfg.logits_chunk)
    nll = lse - tgt
    mask = batch["loss_mask"].astype(jnp.float32)
    denom = jnp.maximum(mask.sum(), 1.0)
    nll_mean = (nll * mask).sum() / denom
    z_mean = (lse ** 2 * mask).sum() / denom
    loss = nll_mean + z * z_mean
    aux = {"nll": nll_mean, "z_loss": z_mean, "tokens": mask.sum()}
    onehot = jax.nn.one_hot(batch["target_modality"], len(mod.names()), dtype=jnp.float32) * mask[..., None]
    per_tokens = onehot.sum(axis=(0, 1))
    per_loss = jnp.einsum("blm,bl->m", onehot, nll) / jnp.maximum(per_tokens, 1.0)
    for i, name in enumerate(mod.names()):
        aux[f"loss/{name}"] = per_loss[i]
        aux[f"tokens/{name}"] = per_tokens[i]
    return loss, aux
