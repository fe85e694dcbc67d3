"""The Mixture-of-Transformers decoder (Flax NNX).

One interleaved token sequence; every token carries a modality id. Attention is global over the whole
sequence; every other non-embedding weight (q/k/v/o, QK-norm, the norms, the SwiGLU FFN) is per
modality when untied, and each token is computed only by its own modality's weights (grouped matmuls
in `omni.model.grouping`). With every weight tied the same code is the dense baseline.

Parameters are stacked over layers ([n_layers, ...]) and carry logical axis names in the `axes`
metadata, so sharding is configuration only (`omni.train.sharding`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from omni import modality as mod
from omni import sharding
from omni.attention import MaskInfo, attention
from omni.config import ModelConfig
from omni.model import grouping
from omni.model.layers import rms_norm, rope
from omni.sharding import constrain
from omni.vocab import UnifiedVocab

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
NEG_INF = -1e30

LAYER_PARAMS = ("attn_norm", "wq", "wk", "wv", "wo", "q_norm", "k_norm", "ffn_norm", "w_gate", "w_up",
                "w_down")


class KVCache(NamedTuple):
    """Fixed-shape decoding cache: k/v [n_layers, B, S, Hkv, Dh] and the mask metadata of each slot."""

    k: jax.Array
    v: jax.Array
    info: MaskInfo  # each [B, S]; segment id 0 marks an empty slot


def resolve_grouped_matmul(cfg: ModelConfig, backend: str | None = None) -> str:
    if cfg.grouped_matmul != "auto":
        return cfg.grouped_matmul
    backend = backend or sharding.target_platform()
    return "tiles" if backend == "cpu" else "ragged"


def _gathered_axes(axes):
    """Logical axes of a weight as used in compute: `embed` unsharded, so activations keep their layout."""
    return tuple(None if a == "embed" else a for a in axes)


class OmniModel(nnx.Module):
    def __init__(self, cfg: ModelConfig, vocab: UnifiedVocab, *, rngs: nnx.Rngs):
        cfg.validate()
        self.cfg = cfg
        self.vocab_size = vocab.size
        self.num_modalities = len(mod.names())
        self.head_ranges = tuple(map(tuple, vocab.head_ranges().tolist()))  # [M, 2], static
        M, L, D, H, Hkv, Dh, F = (self.num_modalities, cfg.n_layers, cfg.d_model, cfg.n_heads,
                                  cfg.n_kv_heads, cfg.head_dim, cfg.d_ff)
        na = M if cfg.untie_attention else 1
        nf = M if cfg.untie_ffn else 1
        nn_ = M if cfg.untie_norms else 1
        pdt = DTYPES[cfg.param_dtype]
        std, out_std = cfg.init_std, cfg.init_std / np.sqrt(2 * L)

        def normal(shape, s):
            return (jax.random.normal(rngs.params(), shape, jnp.float32) * s).astype(pdt)

        def param(value, axes):
            return nnx.Param(value, axes=axes)

        V = self.vocab_size
        self.embed = param(normal((V, D), std), ("vocab", "embed"))
        self.unembed = param(normal((D, V), std), ("embed", "vocab"))
        self.final_norm = param(jnp.ones((nn_, D), pdt), ("modality", "embed"))
        self.attn_norm = param(jnp.ones((L, nn_, D), pdt), ("layers", "modality", "embed"))
        self.ffn_norm = param(jnp.ones((L, nn_, D), pdt), ("layers", "modality", "embed"))
        self.q_norm = param(jnp.ones((L, na, Dh), pdt), ("layers", "modality", "head_dim"))
        self.k_norm = param(jnp.ones((L, na, Dh), pdt), ("layers", "modality", "head_dim"))
        self.wq = param(normal((L, na, D, H * Dh), std), ("layers", "modality", "embed", "heads"))
        self.wk = param(normal((L, na, D, Hkv * Dh), std), ("layers", "modality", "embed", "kv_heads"))
        self.wv = param(normal((L, na, D, Hkv * Dh), std), ("layers", "modality", "embed", "kv_heads"))
        self.wo = param(normal((L, na, H * Dh, D), out_std), ("layers", "modality", "heads", "embed"))
        self.w_gate = param(normal((L, nf, D, F), std), ("layers", "modality", "embed", "mlp"))
        self.w_up = param(normal((L, nf, D, F), std), ("layers", "modality", "embed", "mlp"))
        self.w_down = param(normal((L, nf, F, D), out_std), ("layers", "modality", "mlp", "embed"))

    # ---------------------------------------------------------------------------------------
    def init_cache(self, batch: int, max_len: int) -> KVCache:
        cfg = self.cfg
        shape = (cfg.n_layers, batch, max_len, cfg.n_kv_heads, cfg.head_dim)
        z = jnp.zeros(shape, DTYPES[cfg.dtype])
        zi = jnp.zeros((batch, max_len), jnp.int32)
        return KVCache(z, z, MaskInfo(zi, zi, zi))

    def __call__(self, inputs: jax.Array, input_modality: jax.Array, info: MaskInfo,
                 cache: KVCache | None = None, cache_index: jax.Array | None = None):
        """inputs/input_modality: [B, L] -> hidden [B, L, D] (and the updated cache when given one).

        With a cache, the L new tokens are written at slots [cache_index, cache_index + L) and attend to
        every filled slot under the mask rule.
        """
        cfg = self.cfg
        B, L = inputs.shape
        dt = DTYPES[cfg.dtype]
        chunks = math.gcd(B, max(cfg.layout_chunks, 1))  # each chunk of B/chunks rows is grouped on its own
        N = B * L // chunks
        groups = input_modality.reshape(chunks, N).astype(jnp.int32)
        mode = resolve_grouped_matmul(cfg)
        tile = min(cfg.tile_size, max(8, -(-N // self.num_modalities)))
        grouped = not cfg.is_dense
        layout = grouping.make_layout(groups, self.num_modalities, mode, tile) if grouped else None

        def to_l(x):  # [B, L, K] -> [C, P, K]
            x = x.reshape(chunks, N, x.shape[-1])
            return grouping.to_layout(x, layout) if grouped else x

        def from_l(y):  # [C, P, K] -> [B, L, K]
            y = grouping.from_layout(y, layout) if grouped else y
            return y.reshape(B, L, y.shape[-1])

        def mm(x, p, name):  # x [C, P, K] @ this layer's weight `name` [G, K, F]
            w = p[name]
            return grouping.grouped_matmul(x, w, layout, gathered[name][1:]) if grouped else jnp.einsum(
                "cpk,kf->cpf", x, w[0].astype(x.dtype))

        def scale(s):
            return grouping.group_scale(s, layout) if grouped else s[0][None, None, :]

        if cache is not None:
            idx = jnp.asarray(cache_index, jnp.int32)
            new_info = MaskInfo(*(jax.lax.dynamic_update_slice(c, n.astype(jnp.int32), (0, idx))
                                  for c, n in zip(cache.info, info)))
        else:
            new_info = None

        H, Hkv, Dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim

        def act(x):  # [C, P, K] activations stay sharded by rows (no-op outside the trainer's mesh)
            return constrain(x, ("batch", "seq", None))

        def layer(x, p, ck, cv):
            p = {n: constrain(w, gathered[n]) for n, w in p.items()}  # FSDP: all-gather this layer's weights
            x = act(x)
            h = act(rms_norm(x, scale(p["attn_norm"]), cfg.norm_eps))
            q, k, v = mm(h, p, "wq"), mm(h, p, "wk"), mm(h, p, "wv")
            if cfg.qk_norm:
                qs, ks = scale(p["q_norm"]), scale(p["k_norm"])
                q = rms_norm(q.reshape(q.shape[:-1] + (H, Dh)), qs[..., None, :], cfg.norm_eps)
                k = rms_norm(k.reshape(k.shape[:-1] + (Hkv, Dh)), ks[..., None, :], cfg.norm_eps)
                q, k = q.reshape(q.shape[:-2] + (H * Dh,)), k.reshape(k.shape[:-2] + (Hkv * Dh,))
            # Back to token order one by one (a concatenation would misalign tensor-parallel head shards).
            q = from_l(q).reshape(B, L, H, Dh)
            k, v = from_l(k).reshape(B, L, Hkv, Dh), from_l(v).reshape(B, L, Hkv, Dh)
            q, k = rope(q, info.positions, cfg.rope_theta), rope(k, info.positions, cfg.rope_theta)
            if ck is not None:
                ck = jax.lax.dynamic_update_slice(ck, k.astype(ck.dtype), (0, idx, 0, 0))
                cv = jax.lax.dynamic_update_slice(cv, v.astype(cv.dtype), (0, idx, 0, 0))
                o = attention(q, ck.astype(dt), cv.astype(dt), info, new_info, impl=cfg.attention_impl)
            else:
                o = attention(q, k, v, info, info, impl=cfg.attention_impl)
            x = act(x + mm(to_l(o.reshape(B, L, H * Dh)), p, "wo"))
            h = act(rms_norm(x, scale(p["ffn_norm"]), cfg.norm_eps))
            f = jax.nn.silu(mm(h, p, "w_gate")) * mm(h, p, "w_up")
            x = act(x + mm(f, p, "w_down"))
            return x, ck, cv

        if cfg.remat == "full":
            layer = jax.checkpoint(layer)
        elif cfg.remat == "dots":
            layer = jax.checkpoint(layer, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)

        params = {name: getattr(self, name)[...] for name in LAYER_PARAMS}
        gathered = {n: _gathered_axes(getattr(self, n).axes[1:]) for n in LAYER_PARAMS}
        embed = self.gathered("embed")
        x = to_l(embed[inputs].astype(dt))
        if cfg.scan_layers:
            def body(x, xs):
                p, ck, cv = xs
                x, ck, cv = layer(x, p, ck, cv)
                return x, (ck, cv)
            xs = (params, None if cache is None else cache.k, None if cache is None else cache.v)
            x, (nk, nv) = jax.lax.scan(body, x, xs)
        else:
            ks, vs = [], []
            for i in range(cfg.n_layers):
                p = {n: a[i] for n, a in params.items()}
                x, ck, cv = layer(x, p, None if cache is None else cache.k[i],
                                  None if cache is None else cache.v[i])
                ks.append(ck)
                vs.append(cv)
            nk, nv = (jnp.stack(ks), jnp.stack(vs)) if cache is not None else (None, None)
        x = rms_norm(x, scale(self.gathered("final_norm")), cfg.norm_eps)
        h = from_l(x)
        if cache is None:
            return h
        return h, KVCache(nk, nv, new_info)

    def logits(self, h: jax.Array, target_modality: jax.Array) -> jax.Array:
        """h: [B, L, D] -> fp32 logits [B, L, V]; ids outside the target modality's head are -inf."""
        dt = DTYPES[self.cfg.dtype]
        logits = jnp.einsum("bld,dv->blv", h.astype(dt), self.gathered("unembed").astype(dt),
                            preferred_element_type=jnp.float32)
        return jnp.where(self.head_mask(target_modality), logits, NEG_INF)

    def gathered(self, name: str) -> jax.Array:
        """A parameter's value, all-gathered over the mesh axes of `embed` when a mesh is active (FSDP)."""
        var = getattr(self, name)
        return constrain(var[...], _gathered_axes(var.axes))

    def head_mask(self, target_modality: jax.Array) -> jax.Array:
        """[B, L, V] bool: the vocabulary slice each position may predict."""
        ranges = jnp.asarray(self.head_ranges)[target_modality]              # [B, L, 2]
        ids = jnp.arange(self.vocab_size)
        return (ids >= ranges[..., :1]) & (ids < ranges[..., 1:])
