"""The Mixture-of-Transformers decoder (Flax NNX).

One interleaved token sequence; every token carries a modality id. Attention is global over the whole
sequence; every other non-embedding weight (q/k/v/o, QK-norm, the norms, the SwiGLU FFN) is per
modality when untied, and each token is computed only by its own modality's weights (grouped matmuls
in `omni.model.grouping`). With every weight tied the same code is the dense baseline.

Parameters are stacked over layers ([n_layers, ...]) and carry logical axis names in the `axes`
metadata, so sharding is configuration only (`omni.sharding`).
"""
from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

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


class TokenLayout(NamedTuple):
    """One call's tokens as the per-modality weights see them: the `batch` rows in `chunks` chunks of
    N = batch * length / chunks tokens, each chunk grouped by modality (`layout`, see `omni.model.grouping`;
    None for the dense model, whose tokens stay in order)."""

    batch: int
    length: int
    chunks: int
    layout: Any

    def to_layout(self, x: jax.Array) -> jax.Array:
        """[B, L, K] -> [C, P, K]."""
        x = x.reshape(self.chunks, self.batch * self.length // self.chunks, x.shape[-1])
        return x if self.layout is None else grouping.to_layout(x, self.layout)

    def from_layout(self, y: jax.Array) -> jax.Array:
        """[C, P, K] -> [B, L, K]."""
        y = y if self.layout is None else grouping.from_layout(y, self.layout)
        return y.reshape(self.batch, self.length, y.shape[-1])

    def matmul(self, x: jax.Array, w: jax.Array, axes, out_dtype=None) -> jax.Array:
        """x [C, P, K] @ a per-modality weight w [G, K, F] (`axes`: w's logical axes after 'modality')."""
        if self.layout is None:
            return jnp.einsum("cpk,kf->cpf", x, w[0].astype(x.dtype), preferred_element_type=out_dtype)
        return grouping.grouped_matmul(x, w, self.layout, axes, out_dtype)

    def scale(self, s: jax.Array) -> jax.Array:
        """A per-modality norm scale [G, K] -> what multiplies [C, P, K] activations."""
        return s[0][None, None, :] if self.layout is None else grouping.group_scale(s, self.layout)


def write_cache_info(slots: MaskInfo, info: MaskInfo, index: jax.Array) -> MaskInfo:
    """The cache's slot metadata with the new tokens' `info` [B, L] written at slots [index, index + L)."""
    return MaskInfo(*(jax.lax.dynamic_update_slice(c, n.astype(jnp.int32), (0, index))
                      for c, n in zip(slots, info)))


def _activation(x: jax.Array) -> jax.Array:
    """[C, P, K] activations stay sharded by rows (a no-op outside the trainer's mesh)."""
    return constrain(x, ("batch", "seq", None))


def layer_attention(cfg: ModelConfig, q, k, v, info: MaskInfo, slots: MaskInfo | None, index, ck, cv):
    """Attention of this call's q [B, L, H, Dh] to its own k/v, or with a layer cache ck/cv [B, S, Hkv, Dh]:
    k/v written at slots [index, index + L), then q attends to every filled slot. -> (o, ck, cv)."""
    if ck is None:
        return attention(q, k, v, info, info, impl=cfg.attention_impl), ck, cv
    dt = DTYPES[cfg.dtype]
    ck = jax.lax.dynamic_update_slice(ck, k.astype(ck.dtype), (0, index, 0, 0))
    cv = jax.lax.dynamic_update_slice(cv, v.astype(cv.dtype), (0, index, 0, 0))
    return attention(q, ck.astype(dt), cv.astype(dt), info, slots, impl=cfg.attention_impl), ck, cv


def decoder_layer(cfg: ModelConfig, tokens: TokenLayout, axes: dict, info: MaskInfo, slots: MaskInfo | None,
                  index, x, p, ck, cv):
    """One pre-norm decoder layer (attention, then SwiGLU FFN) on x [C, P, D] in the token layout.

    p: this layer's weights {name: [G, ...]} (`axes`: their logical axes as computed with, see
    `_gathered_axes`); ck/cv: this layer's KV cache or None; `slots`/`index`: see `layer_attention`.
    -> (x, ck, cv).
    """
    B, L = tokens.batch, tokens.length
    H, Hkv, Dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    p = {n: constrain(w, axes[n]) for n, w in p.items()}  # FSDP: all-gather this layer's weights

    def mm(x, name):
        return tokens.matmul(x, p[name], axes[name][1:])

    x = _activation(x)
    h = _activation(rms_norm(x, tokens.scale(p["attn_norm"]), cfg.norm_eps))
    q, k, v = mm(h, "wq"), mm(h, "wk"), mm(h, "wv")
    if cfg.qk_norm:
        qs, ks = tokens.scale(p["q_norm"]), tokens.scale(p["k_norm"])
        q = rms_norm(q.reshape(q.shape[:-1] + (H, Dh)), qs[..., None, :], cfg.norm_eps)
        k = rms_norm(k.reshape(k.shape[:-1] + (Hkv, Dh)), ks[..., None, :], cfg.norm_eps)
        q, k = q.reshape(q.shape[:-2] + (H * Dh,)), k.reshape(k.shape[:-2] + (Hkv * Dh,))
    # Back to token order one by one (a concatenation would misalign tensor-parallel head shards).
    q = tokens.from_layout(q).reshape(B, L, H, Dh)
    k, v = tokens.from_layout(k).reshape(B, L, Hkv, Dh), tokens.from_layout(v).reshape(B, L, Hkv, Dh)
    q, k = rope(q, info.positions, cfg.rope_theta), rope(k, info.positions, cfg.rope_theta)
    o, ck, cv = layer_attention(cfg, q, k, v, info, slots, index, ck, cv)
    x = _activation(x + mm(tokens.to_layout(o.reshape(B, L, H * Dh)), "wo"))
    h = _activation(rms_norm(x, tokens.scale(p["ffn_norm"]), cfg.norm_eps))
    f = jax.nn.silu(mm(h, "w_gate")) * mm(h, "w_up")
    x = _activation(x + mm(f, "w_down"))
    return x, ck, cv


def remat(layer, policy: str):
    """`layer` rematerialized per `model.remat`: 'none' as is, 'full' everything, 'dots' all but matmuls."""
    if policy == "full":
        return jax.checkpoint(layer)
    if policy == "dots":
        return jax.checkpoint(layer, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    return layer


def run_layers(layer, x, params: dict, cache: KVCache | None, *, scan: bool, n_layers: int):
    """x through every layer, the stacked weights `params` {name: [n_layers, ...]} (and cache) sliced per
    layer: one `lax.scan` when `scan`, else an unrolled loop. -> (x, new cache k, new cache v)."""
    if scan:
        def body(x, xs):
            p, ck, cv = xs
            x, ck, cv = layer(x, p, ck, cv)
            return x, (ck, cv)
        xs = (params, None if cache is None else cache.k, None if cache is None else cache.v)
        x, (nk, nv) = jax.lax.scan(body, x, xs)
        return x, nk, nv
    ks, vs = [], []
    for i in range(n_layers):
        p = {n: a[i] for n, a in params.items()}
        x, ck, cv = layer(x, p, None if cache is None else cache.k[i], None if cache is None else cache.v[i])
        ks.append(ck)
        vs.append(cv)
    nk, nv = (jnp.stack(ks), jnp.stack(vs)) if cache is not None else (None, None)
    return x, nk, nv


def _head_logits(h, unembed, target_modality, head_ranges, dt) -> jax.Array:
    """h [..., D] @ unembed [D, V] -> fp32 logits [..., V]; ids outside each position's target-modality slice of
    the vocabulary (`head_ranges` [M, 2], static) are NEG_INF."""
    logits = jnp.einsum("...d,dv->...v", h.astype(dt), unembed.astype(dt), preferred_element_type=jnp.float32)
    ranges = jnp.asarray(head_ranges)[target_modality]                      # [..., 2]
    ids = jnp.arange(unembed.shape[-1])
    return jnp.where((ids >= ranges[..., :1]) & (ids < ranges[..., 1:]), logits, NEG_INF)


def _grouped_head_scores(h, targets, target_modality, unembed, head_ranges, dt, tokens: TokenLayout):
    """What `_head_logits` + logsumexp / target pick give, computing each position's logits on its target
    modality's slice of the vocabulary only: positions grouped by target modality (`tokens`, a grouped layout
    of `target_modality`) times the slices of `unembed` [D, V], each padded to the widest slice (the padding
    columns are NEG_INF). Returns (log-partition, target logit), fp32 [B, L] each."""
    ranges = np.asarray(head_ranges)                                          # [M, 2], static
    widths = ranges[:, 1] - ranges[:, 0]
    W = int(widths.max())
    cols = np.minimum(ranges[:, :1] + np.arange(W), unembed.shape[-1] - 1)   # [M, W]
    w = jnp.moveaxis(unembed[:, cols], 0, 1)                                  # [M, D, W]
    lay = tokens.layout
    logits = tokens.matmul(tokens.to_layout(h.astype(dt)), w, ("embed", "vocab"), jnp.float32)  # [C, P, W]
    logits = jnp.where(jnp.arange(W) < jnp.asarray(widths)[lay.slot_group][..., None], logits, NEG_INF)
    local = targets - jnp.asarray(ranges[:, 0])[target_modality]             # id within the slice
    local = grouping.gather_to_layout(local.reshape(tokens.chunks, -1, 1), lay)[..., 0]
    tgt = jnp.take_along_axis(logits, jnp.clip(local, 0, W - 1)[..., None], axis=-1)[..., 0]
    out = tokens.from_layout(jnp.stack([jax.nn.logsumexp(logits, axis=-1), tgt], axis=-1))
    return out[..., 0], out[..., 1]


def code_digits(n: int, levels: tuple[int, ...]) -> np.ndarray:
    """[n, len(levels)] int32: the FSQ digits of local code ids 0..n-1, each offset into its own block of
    `sum(levels)` digit-value rows (digit d of id i is (i // prod(levels[:d])) % levels[d], first level fastest,
    as `omni_tokenizers.core.quantizers.FSQ` numbers its codes)."""
    lv = np.asarray(levels)
    basis = np.cumprod((1,) + tuple(levels[:-1]))
    starts = np.cumsum((0,) + tuple(levels[:-1]))
    return ((np.arange(n)[:, None] // basis) % lv + starts).astype(np.int32)


def code_ranges(cfg: ModelConfig, vocab: UnifiedVocab) -> tuple[tuple[int, int, tuple[int, ...], int], ...]:
    """(global offset, codes, levels, first digit row) per modality of `model.code_levels` (static)."""
    out, row = [], 0
    for name, levels in cfg.code_levels:
        if name not in vocab.modalities:
            raise ValueError(f"model.code_levels names {name!r}, which the vocabulary does not have "
                             f"(modalities: {vocab.modalities})")
        n = vocab.num_codes(name)
        if math.prod(levels) != n:
            raise ValueError(f"model.code_levels[{name!r}] = {tuple(levels)} gives {math.prod(levels)} codes; the "
                             f"vocabulary has {n} {name} codes (vocab.{name})")
        out.append((vocab.code_offset(name), n, tuple(levels), row))
        row += sum(levels)
    return tuple(out)


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
        # model.code_levels: one learned vector per digit value of each factored modality, added to its codes' input
        # and output vectors (`embed_tokens`, `head`); zero-initialised, so a fresh model computes what it would
        # without them
        self.code_ranges = code_ranges(cfg, vocab)
        if self.code_ranges:
            K = sum(sum(levels) for _, _, levels, _ in self.code_ranges)
            # "code_digits" has no mesh rule: the digit axis (a few dozen rows) is never split
            self.embed_digits = param(jnp.zeros((K, D), pdt), ("code_digits", "embed"))
            self.unembed_digits = param(jnp.zeros((D, K), pdt), ("embed", "code_digits"))
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
        dt = DTYPES[cfg.dtype]
        tokens = self.token_layout(input_modality)
        idx = None if cache is None else jnp.asarray(cache_index, jnp.int32)
        slots = None if cache is None else write_cache_info(cache.info, info, idx)
        axes = {n: _gathered_axes(getattr(self, n).axes[1:]) for n in LAYER_PARAMS}
        layer = remat(functools.partial(decoder_layer, cfg, tokens, axes, info, slots, idx), cfg.remat)
        params = {name: getattr(self, name)[...] for name in LAYER_PARAMS}
        x = tokens.to_layout(self.embed_tokens(inputs).astype(dt))
        x, nk, nv = run_layers(layer, x, params, cache, scan=cfg.scan_layers, n_layers=cfg.n_layers)
        x = rms_norm(x, tokens.scale(self.gathered("final_norm")), cfg.norm_eps)
        h = tokens.from_layout(x)
        if cache is None:
            return h
        return h, KVCache(nk, nv, slots)

    def token_layout(self, input_modality: jax.Array) -> TokenLayout:
        """How this call's [B, L] tokens meet the per-modality weights: rows in `model.layout_chunks` chunks
        (gcd with B), each chunk grouped by modality (`omni.model.grouping`) unless every weight is tied."""
        return self._token_layout(input_modality, grouped=not self.cfg.is_dense)

    def _token_layout(self, modality: jax.Array, grouped: bool, tile: int | None = None) -> TokenLayout:
        cfg = self.cfg
        B, L = modality.shape
        chunks = math.gcd(B, max(cfg.layout_chunks, 1))  # each chunk of B/chunks rows is grouped on its own
        if not grouped:
            return TokenLayout(B, L, chunks, None)
        N = B * L // chunks
        groups = modality.reshape(chunks, N).astype(jnp.int32)
        tile = min(tile or cfg.tile_size, max(8, -(-N // self.num_modalities)))
        layout = grouping.make_layout(groups, self.num_modalities, resolve_grouped_matmul(cfg), tile)
        return TokenLayout(B, L, chunks, layout)

    def logits(self, h: jax.Array, target_modality: jax.Array, head: jax.Array | None = None) -> jax.Array:
        """h: [B, L, D] -> fp32 logits [B, L, V]; ids outside the target modality's head are -inf. `head`: this
        model's `head()`, for a caller that computes it once for many calls (a decode loop); None: computed here."""
        head = self.head() if head is None else head
        return _head_logits(h, head, target_modality, self.head_ranges, DTYPES[self.cfg.dtype])

    def token_scores(self, h: jax.Array, targets: jax.Array, target_modality: jax.Array,
                     chunk: int = 0) -> tuple[jax.Array, jax.Array]:
        """(log-partition, target logit), fp32 [B, L] each: what the loss needs of `logits`. With `chunk` > 0
        the logits are computed `chunk` positions of every row at a time and recomputed in the backward pass
        (jax.checkpoint), so the [B, L, V] fp32 tensor, the largest of a small model's step, never exists.
        With `model.grouped_head` each position's logits cover its target modality's slice only."""
        w, dt, ranges = self.head(), DTYPES[self.cfg.dtype], self.head_ranges

        def scores(hc, tc, mc):
            if self.cfg.grouped_head:
                tokens = self._token_layout(mc, grouped=True, tile=self.cfg.head_tile_size)
                return _grouped_head_scores(hc, tc, mc, w, ranges, dt, tokens)
            logits = _head_logits(hc, w, mc, ranges, dt)
            return (jax.nn.logsumexp(logits, axis=-1),
                    jnp.take_along_axis(logits, tc[..., None], axis=-1)[..., 0])

        B, L, _ = h.shape
        if not chunk or chunk >= L:
            return scores(h, targets, target_modality)
        n = -(-L // chunk)
        pad = n * chunk - L

        def split(x):  # [B, L, ...] -> [n, B, chunk, ...] (padded positions are computed, then dropped)
            x = jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2))
            return jnp.swapaxes(x.reshape(B, n, chunk, *x.shape[2:]), 0, 1)

        lse, tgt = jax.lax.map(lambda xs: jax.checkpoint(scores)(*xs),
                               (split(h), split(targets), split(target_modality)))
        join = lambda x: jnp.swapaxes(x, 0, 1).reshape(B, n * chunk)[:, :L]  # noqa: E731
        return join(lse), join(tgt)

    def embed_tokens(self, ids: jax.Array) -> jax.Array:
        """ids [...] -> their input vectors [..., D]: the embedding rows plus, for a factored code
        (`model.code_levels`), the sum of its digits' vectors (computed for these tokens only)."""
        x = self.gathered("embed")[ids]
        if not self.code_ranges:
            return x
        digits = self.gathered("embed_digits")                                  # [K, D]
        for off, n, levels, row in self.code_ranges:
            local = ids - off
            inside = (local >= 0) & (local < n)
            d = jnp.asarray(code_digits(n, levels) + row)[jnp.where(inside, local, 0)]   # [..., digits]
            x = x + jnp.where(inside[..., None], digits[d].sum(-2), 0).astype(x.dtype)
        return x

    def head(self) -> jax.Array:
        """The output table [D, V] as the model uses it: `unembed` gathered (FSDP), each factored code's column
        plus the sum of its digits' output vectors (`model.code_levels`)."""
        w = self.gathered("unembed")
        if not self.code_ranges:
            return w
        digits = self.gathered("unembed_digits")                                # [D, K]
        for off, n, levels, row in self.code_ranges:
            idx = code_digits(n, levels) + row                                  # [n, digits], static
            w = w.at[:, off:off + n].add(digits[:, idx].sum(2).astype(w.dtype))
        return w

    def gathered(self, name: str) -> jax.Array:
        """A parameter's value, all-gathered over the mesh axes of `embed` when a mesh is active (FSDP)."""
        var = getattr(self, name)
        return constrain(var[...], _gathered_axes(var.axes))
