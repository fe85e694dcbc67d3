"""Next-token choice from masked logits: classifier-free guidance, temperature, top-k, top-p (all traced).

Every control is a traced scalar, so changing it never recompiles the decoding loop. `NEG` marks ids
that may not be sampled (the model's head mask uses the same value).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

NEG = -1e30


def guide(cond: jax.Array, uncond: jax.Array, scale: jax.Array) -> jax.Array:
    """Classifier-free guidance on [B, V] logits: uncond + scale * (cond - uncond); masked ids stay NEG."""
    out = uncond + scale * (cond - uncond)
    return jnp.where(cond <= NEG / 2, NEG, out)


def filter_top_k_top_p(logits: jax.Array, top_k: jax.Array, top_p: jax.Array) -> jax.Array:
    """logits [B, V] (already temperature-scaled) -> same, with ids outside top-k / the top-p nucleus = NEG.

    top_k <= 0 and top_p >= 1 disable each filter; ties at the k-th value are all kept.
    """
    V = logits.shape[-1]
    rank = jnp.arange(V)
    srt = -jnp.sort(-logits, axis=-1)                                     # [B, V] descending
    k = jnp.where(top_k > 0, jnp.minimum(top_k, V), V)
    valid = (rank < k) & (srt > NEG / 2)
    p = jax.nn.softmax(jnp.where(valid, srt, NEG), axis=-1)
    keep = valid & ((jnp.cumsum(p, axis=-1) - p) < top_p)                 # the best id is always kept
    n_keep = jnp.maximum(keep.sum(-1), 1)
    thresh = jnp.take_along_axis(srt, (n_keep - 1)[:, None], axis=-1)    # [B, 1]
    return jnp.where(logits >= thresh, logits, NEG)


def choose(key: jax.Array, logits: jax.Array, temperature: jax.Array, top_k: jax.Array,
           top_p: jax.Array) -> jax.Array:
    """logits [B, V] (NEG = forbidden) -> int32 ids [B]; temperature <= 0 is greedy (argmax)."""
    greedy = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = jnp.where(logits <= NEG / 2, NEG, logits / jnp.maximum(temperature, 1e-6))
    filtered = jax.lax.cond((top_k > 0) | (top_p < 1), filter_top_k_top_p, lambda x, *_: x, scaled, top_k, top_p)
    drawn = jax.random.categorical(key, filtered, axis=-1).astype(jnp.int32)
    return jnp.where(temperature > 0, drawn, greedy)
