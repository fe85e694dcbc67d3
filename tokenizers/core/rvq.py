"""Residual vector quantization (SoundStream / EnCodec): EMA k-means codebooks with k-means++ seeding,
dead-code restart at badly quantized vectors, commitment loss, per-item quantizer dropout, and a
straight-through gradient over the whole stack.

Codebooks are not nnx.Params: they follow the assigned vectors by exponential moving averages
(updated in place during training forwards), so the optimizer never touches them. Level l
quantizes the residual left by levels < l; with quantizer dropout an item uses only its first
n_q levels, so decoding from fewer levels works at inference.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Codebook(nnx.Variable):
    """EMA codebook state (vectors, cluster sizes, running sums, init flag); never optimized."""


def _sample_rows(key: jax.Array, x_md: jax.Array, w_m: jax.Array, n: int) -> jax.Array:
    """n rows of x [M, D] drawn with probability proportional to weight w [M] (with replacement)."""
    return x_md[jax.random.choice(key, x_md.shape[0], (n,), p=_normalized(w_m))]


def _normalized(w_m: jax.Array) -> jax.Array:
    """w / sum(w), or uniform when every weight is 0."""
    total = jnp.sum(w_m)
    return jnp.where(total > 0, w_m / jnp.maximum(total, 1e-30), 1.0 / w_m.shape[0])


def kmeans_plus_plus(key: jax.Array, x_md: jax.Array, w_m: jax.Array, k: int) -> jax.Array:
    """k-means++ seeding: k rows of x [M, D], each drawn with probability ~ w * distance^2 to the
    rows already chosen, so tight clusters each get a seed instead of some getting several."""
    key, k0 = jax.random.split(key)
    first = x_md[jax.random.choice(k0, x_md.shape[0], p=_normalized(w_m))]
    centers = jnp.zeros((k, x_md.shape[1]), x_md.dtype).at[0].set(first)
    d2 = jnp.sum((x_md - first) ** 2, -1)

    def body(i, carry):
        centers, d2, key = carry
        key, ki = jax.random.split(key)
        c = x_md[jax.random.choice(ki, x_md.shape[0], p=_normalized(w_m * d2))]
        return centers.at[i].set(c), jnp.minimum(d2, jnp.sum((x_md - c) ** 2, -1)), key

    return jax.lax.fori_loop(1, k, body, (centers, d2, key))[0]


def nearest(x_md: jax.Array, cb_kd: jax.Array) -> jax.Array:
    """Index of the nearest codeword (squared L2) for each row: x [M, D], cb [K, D] -> [M] int32."""
    d = (jnp.sum(x_md * x_md, -1, keepdims=True) - 2.0 * x_md @ cb_kd.T + jnp.sum(cb_kd * cb_kd, -1)[None])
    return jnp.argmin(d, axis=-1).astype(jnp.int32)


class ResidualVQ(nnx.Module):
    """z [B, N, D] -> (zq [B, N, D], codes [B, N, Q]); Q = num_quantizers levels of codebook_size."""

    def __init__(self, num_quantizers: int, codebook_size: int, dim: int, *, decay: float = 0.99,
                 dead_threshold: float = 0.1, dropout_prob: float = 0.5, eps: float = 1e-5,
                 rngs: nnx.Rngs):
        if num_quantizers < 1 or codebook_size < 2 or dim < 1:
            raise ValueError(f"ResidualVQ needs num_quantizers >= 1, codebook_size >= 2, dim >= 1; got "
                             f"{num_quantizers}, {codebook_size}, {dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        if not 0.0 <= dropout_prob <= 1.0:
            raise ValueError(f"quantizer dropout_prob must be in [0, 1], got {dropout_prob}")
        self.num_quantizers, self.codebook_size, self.dim = num_quantizers, codebook_size, dim
        self.decay, self.dead_threshold, self.dropout_prob, self.eps = decay, dead_threshold, dropout_prob, eps
        init = jax.random.normal(rngs.params(), (num_quantizers, codebook_size, dim)) * 0.1
        self.codebooks = Codebook(init)                                       # [Q, K, D]
        self.cluster_size = Codebook(jnp.ones((num_quantizers, codebook_size)))  # [Q, K] EMA counts
        self.embed_sum = Codebook(init)                                       # [Q, K, D] EMA sums
        self.initialized = Codebook(jnp.zeros((1,), jnp.bool_))  # data init done? ([1]: safetensors has no 0-d)

    # -- inference -----------------------------------------------------------------------------
    def encode(self, z_bnd: jax.Array, num_quantizers: int) -> jax.Array:
        """Codes of the first `num_quantizers` levels: z [B, N, D] -> [B, N, k] int32 (no updates)."""
        self._check_levels(num_quantizers)
        b, n, d = z_bnd.shape
        residual = z_bnd.reshape(b * n, d).astype(jnp.float32)
        codes = []
        for level in range(num_quantizers):
            cb = self.codebooks[level]
            c = nearest(residual, cb)
            residual = residual - cb[c]
            codes.append(c)
        return jnp.stack(codes, -1).reshape(b, n, num_quantizers)

    def decode(self, codes_bnk: jax.Array) -> jax.Array:
        """Sum of the codewords of levels 0..k-1: codes [B, N, k] -> zq [B, N, D]."""
        self._check_levels(codes_bnk.shape[-1])
        zq = 0.0
        for level in range(codes_bnk.shape[-1]):
            zq = zq + self.codebooks[level][codes_bnk[..., level]]
        return zq

    def _check_levels(self, k: int) -> None:
        if not 1 <= int(k) <= self.num_quantizers:
            raise ValueError(f"num_quantizers must be in [1, {self.num_quantizers}], got {k}")

    # -- training ------------------------------------------------------------------------------
    def __call__(self, z_bnd: jax.Array, key: jax.Array | None = None, train: bool = False
                 ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """Quantizes with all levels (train: per-item dropout, EMA + dead-code updates in place).

        Returns (zq [B, N, D] with a straight-through gradient to z, codes [B, N, Q], parts) where
        parts["commit"] is the mean squared distance of each active level's residual to its codeword.
        """
        if train and key is None:
            raise ValueError("ResidualVQ(train=True) needs a PRNG key (quantizer dropout, code restarts)")
        b, n, d = z_bnd.shape
        z = z_bnd.astype(jnp.float32)
        n_q = jnp.full((b,), self.num_quantizers, jnp.int32)
        if train:
            key, k_drop, k_n = jax.random.split(key, 3)
            drop = jax.random.bernoulli(k_drop, self.dropout_prob, (b,))
            n_q = jnp.where(drop, jax.random.randint(k_n, (b,), 1, self.num_quantizers + 1), n_q)
        residual = z.reshape(b * n, d)
        active_m = jnp.repeat(n_q, n)  # [M] number of levels each row uses
        zq = jnp.zeros_like(residual)
        commit, codes, updates = 0.0, [], []
        for level in range(self.num_quantizers):
            w = (level < active_m).astype(jnp.float32)  # [M]
            cb = self.codebooks[level]
            if train:  # first training batch: k-means++ seeds from this level's residuals
                key, k_init = jax.random.split(key)
                x_sg = jax.lax.stop_gradient(residual)
                cb = jax.lax.cond(self.initialized[0], lambda cb, k, x, w: cb,
                                  lambda cb, k, x, w: kmeans_plus_plus(k, x, w, cb.shape[0]), cb, k_init, x_sg, w)
            c = nearest(jax.lax.stop_gradient(residual), cb)
            q = cb[c]
            err = jnp.mean((residual - jax.lax.stop_gradient(q)) ** 2, -1)
            commit = commit + jnp.sum(err * w) / jnp.maximum(jnp.sum(w), 1.0)
            updates.append((cb, jax.lax.stop_gradient(residual), c, w, jax.lax.stop_gradient(err)))
            zq = zq + w[:, None] * q
            residual = residual - jax.lax.stop_gradient(q)
            codes.append(c)
        if train:
            self._ema_update(updates, key)
        zq = zq.reshape(b, n, d)
        zq_st = z + jax.lax.stop_gradient(zq - z)
        hits = [jnp.sum(jax.nn.one_hot(c, self.codebook_size) * w[:, None], 0) > 0 for _, _, c, w, _ in updates]
        usage = jnp.mean(jnp.stack(hits).astype(jnp.float32))  # codes hit in this batch, all levels
        parts = {"commit": commit / self.num_quantizers, "code_usage": usage,
                 "mean_levels": jnp.mean(n_q.astype(jnp.float32))}
        return zq_st, jnp.stack(codes, -1).reshape(b, n, self.num_quantizers), parts

    def _ema_update(self, updates, key: jax.Array) -> None:
        """EMA k-means step per level, then restarts codes whose EMA count fell below the threshold."""
        first = ~self.initialized[0]
        new_cb, new_cs, new_es = [], [], []
        for level, (cb, x_md, c, w, err) in enumerate(updates):
            onehot = jax.nn.one_hot(c, self.codebook_size, dtype=jnp.float32) * w[:, None]  # [M, K]
            counts, sums = jnp.sum(onehot, 0), onehot.T @ x_md
            cs_prev = jnp.where(first, jnp.ones_like(counts), self.cluster_size[level])
            es_prev = jnp.where(first, cb, self.embed_sum[level])
            cs = self.decay * cs_prev + (1 - self.decay) * counts
            es = self.decay * es_prev + (1 - self.decay) * sums
            total = jnp.sum(cs)
            smoothed = (cs + self.eps) / (total + self.codebook_size * self.eps) * total
            vecs = es / smoothed[:, None]
            key, k_dead = jax.random.split(key)
            dead = cs < self.dead_threshold
            fresh = _sample_rows(k_dead, x_md, w * err, self.codebook_size)  # where quantization is worst
            any_rows = jnp.sum(w) > 0
            dead = dead & any_rows
            vecs = jnp.where(dead[:, None], fresh, vecs)
            es = jnp.where(dead[:, None], fresh, es)
            cs = jnp.where(dead, 1.0, cs)
            new_cb.append(vecs), new_cs.append(cs), new_es.append(es)
        self.codebooks[...] = jnp.stack(new_cb)
        self.cluster_size[...] = jnp.stack(new_cs)
        self.embed_sum[...] = jnp.stack(new_es)
        self.initialized[...] = jnp.ones((1,), jnp.bool_)
