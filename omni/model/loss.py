"""Next-token loss per target modality on its own vocabulary slice, plus z-loss."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from omni import modality as mod
from omni.attention import MaskInfo


def batch_info(batch) -> MaskInfo:
    return MaskInfo(batch["segment_ids"], batch["positions"], batch["span_ids"])


def modality_weights(pairs: tuple[tuple[str, float], ...]) -> np.ndarray | None:
    """train.loss_weights ((modality, weight), ...) -> float32 [n_modalities] in modality id order (unnamed: 1),
    or None when no weights are given (the plain token mean)."""
    if not pairs:
        return None
    w = np.ones(len(mod.names()), np.float32)
    for name, v in pairs:
        w[mod.names().index(name)] = v
    return w


def token_nll(model, batch) -> tuple[jax.Array, jax.Array]:
    """(next-token negative log-likelihood, log-partition), fp32 [B, L] each, of a batch of the training contract
    (every position; `loss_mask` says which count)."""
    h = model(batch["inputs"], batch["input_modality"], batch_info(batch))
    lse, tgt = model.token_scores(h, batch["targets"], batch["target_modality"], model.cfg.logits_chunk)
    return lse - tgt, lse


def loss_fn(model, batch, z_loss: float | None = None, loss_weights: np.ndarray | None = None):
    """Returns (loss incl. z-loss, aux) for a batch of the training contract: the mean over loss tokens, each
    weighted by `loss_weights[target modality]` when given ([n_modalities], see `modality_weights`).

    aux: `nll` and `z_loss` (unweighted means), `tokens`, `loss_weight` (the loss's denominator: the tokens'
    summed weights), and per modality `loss/<m>` and `tokens/<m>`.
    """
    z = model.cfg.z_loss if z_loss is None else z_loss
    nll, lse = token_nll(model, batch)
    mask = batch["loss_mask"].astype(jnp.float32)
    denom = jnp.maximum(mask.sum(), 1.0)
    nll_mean = (nll * mask).sum() / denom
    z_mean = (lse ** 2 * mask).sum() / denom
    w = mask if loss_weights is None else mask * jnp.asarray(loss_weights, jnp.float32)[batch["target_modality"]]
    loss = ((nll + z * lse ** 2) * w).sum() / jnp.maximum(w.sum(), 1e-9)
    aux = {"nll": nll_mean, "z_loss": z_mean, "tokens": mask.sum(), "loss_weight": w.sum()}
    onehot = jax.nn.one_hot(batch["target_modality"], len(mod.names()), dtype=jnp.float32) * mask[..., None]
    per_tokens = onehot.sum(axis=(0, 1))
    per_loss = jnp.einsum("blm,bl->m", onehot, nll) / jnp.maximum(per_tokens, 1.0)
    for i, name in enumerate(mod.names()):
        aux[f"loss/{name}"] = per_loss[i]
        aux[f"tokens/{name}"] = per_tokens[i]
    return loss, aux
