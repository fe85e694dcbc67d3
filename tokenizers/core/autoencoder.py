"""What the image and video tokenizers share: a quantized autoencoder module and the tokenizer around it.

`QuantizedAutoencoder`: subclasses set `encoder`, `decoder` and `quantizer` (FSQ/LFQ). `AutoencoderTokenizer`:
jitted encode (media -> flat int32 ids, latent raster order) and decode (ids on a latent grid -> media in
[0, 1]), save/load as config.json + safetensors. Subclasses set `kind`, `modality`, `config_cls`,
`model_cls`, and define input checks, `encode`/`decode` signatures and `tokens_per_item`.

Code groups (`code_groups` in a config, default 1): each latent position's code is written as G tokens, the
quantizer's digits split into G contiguous groups of equal codebook size S (id = t_0 + t_1 * S + ...), so a large
codebook (FSQ 8,5,5,5,8,5,5,5: 10^6 codes) reaches a model as G tokens of S codes (2 of 1000); the tokens of one
position are adjacent, in group order, and the reconstruction is the one the single code gives.
"""
from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from omni_tokenizers.core import base


def group_size(levels, groups: int) -> int:
    """Codes per token when `levels` (FSQ/LFQ digits, low digit first) are split into `groups` contiguous groups
    of equal product; a one-line error names what is expected otherwise."""
    levels = tuple(int(v) for v in levels)
    if groups < 1 or len(levels) % groups:
        raise ValueError(f"code_groups must be >= 1 and divide the {len(levels)} quantizer levels, got {groups}")
    n = len(levels) // groups
    sizes = [int(np.prod(levels[i * n:(i + 1) * n])) for i in range(groups)]
    if len(set(sizes)) != 1:
        raise ValueError(f"code_groups={groups}: each group of {n} levels must have the same product (codes per "
                         f"token), got levels {levels} -> {sizes}")
    if sizes[0] ** groups >= 2 ** 31:
        raise ValueError(f"levels {levels}: {sizes[0] ** groups} codes do not fit int32 ids")
    return sizes[0]


def split_codes(ids: jax.Array, size: int, groups: int) -> jax.Array:
    """[B, N] code ids -> [B, N * groups] tokens in [0, size): each code's base-`size` digits, low first."""
    if groups == 1:
        return ids
    parts = [(ids // size ** g) % size for g in range(groups)]
    return jnp.stack(parts, axis=-1).reshape(ids.shape[0], -1)


def join_codes(tokens: jax.Array, size: int, groups: int) -> jax.Array:
    """[B, N * groups] tokens -> [B, N] code ids (the inverse of split_codes)."""
    if groups == 1:
        return tokens
    digits = tokens.reshape(tokens.shape[0], -1, groups)
    return jnp.sum(digits * (size ** jnp.arange(groups, dtype=jnp.int32)), axis=-1)


class LatentGrid:
    """Config mixin: `channels` stages of 2x spatial downsampling, FSQ/LFQ `levels` and, where the config has
    the field, `code_groups` tokens per latent position (1 otherwise)."""

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)

    @property
    def codebook_size(self) -> int:
        return int(np.prod(self.levels))

    @property
    def groups(self) -> int:
        return int(getattr(self, "code_groups", 1))

    @property
    def token_vocab(self) -> int:
        """Codes per token: the whole codebook, or one group's share of it."""
        return group_size(self.levels, self.groups)


class QuantizedAutoencoder(nnx.Module):
    """x -> (recon, z, zq, ids): subclasses set `encoder`, `decoder`, `quantizer`."""

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """x -> (z, zq, ids): continuous latents, their quantized values, and the code ids."""
        z = self.encoder(x)
        zq, ids = self.quantizer(z)
        return z, zq, ids

    def decode_codes(self, zq: jax.Array) -> jax.Array:
        return self.decoder(zq)

    def __call__(self, x: jax.Array):
        z, zq, ids = self.encode(x)
        return self.decoder(zq), z, zq, ids


class AutoencoderTokenizer(base.Tokenizer):
    """A discrete tokenizer around a `QuantizedAutoencoder` built from a config dataclass with
    `validate()`, `codebook_size` and `downsample`."""

    config_cls: type
    model_cls: type

    def __init__(self, cfg, model: QuantizedAutoencoder | None = None, seed: int = 0):
        self.config = cfg.validate()
        self.model = model if model is not None else base.init_module(lambda r: self.model_cls(cfg, r), seed)
        self.groups = cfg.groups
        self.vocab_size = cfg.token_vocab
        self.downsample = cfg.downsample
        self._build()

    def _build(self):
        graphdef, state = nnx.split(self.model)
        size, groups = self.vocab_size, self.groups

        def enc(state, x):
            _, _, ids = nnx.merge(graphdef, state).encode(x)
            return split_codes(ids.reshape(ids.shape[0], -1).astype(jnp.int32), size, groups)

        def dec(state, ids, grid):
            m = nnx.merge(graphdef, state)
            zq = m.quantizer.ids_to_codes(join_codes(ids, size, groups).reshape((ids.shape[0],) + grid))
            return jnp.clip(m.decode_codes(zq), 0.0, 1.0)

        self._state = state
        self.encode_fn = enc  # (state, x) -> ids: traceable, for sharded or ahead-of-time programs
        self._enc = jax.jit(enc)
        self._dec = jax.jit(dec, static_argnums=2)
        if getattr(self, "_mesh", None) is not None:
            self.shard(self._mesh)

    def shard(self, mesh) -> None:
        """Encode batches split over `mesh`'s devices (batch axis over all its axes, weights replicated);
        the batch size must be a multiple of the mesh size. Ids are the same as on one device."""
        self._mesh = mesh
        self._state = jax.device_put(self._state, base.replicated(mesh))
        self._enc = jax.jit(self.encode_fn, in_shardings=(base.replicated(mesh), base.batch_split(mesh)),
                            out_shardings=base.batch_split(mesh))

    def refresh(self) -> None:
        """Re-reads the model's weights (call after training the model in place)."""
        self._build()

    def _encode_checked(self, x) -> jax.Array:
        return self._enc(self._state, jnp.asarray(x, jnp.float32))

    def _decode_grid(self, ids, grid: tuple[int, ...]) -> jax.Array:
        return self._dec(self._state, jnp.asarray(ids, jnp.int32), tuple(int(g) for g in grid))

    def save(self, directory: str | pathlib.Path) -> None:
        base.write_config(directory, self.kind, self.modality, self.config)
        base.save_module(self.model, directory)

    @classmethod
    def load(cls, directory: str | pathlib.Path):
        payload = base.read_config(directory, cls.kind)
        cfg = base.config_from_payload(cls.config_cls, payload)
        tok = cls(cfg, model=nnx.eval_shape(lambda: cls.model_cls(cfg, nnx.Rngs(0))))  # no init compute
        base.load_module(tok.model, directory)
        tok.refresh()
        return tok
