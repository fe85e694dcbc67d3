"""What the image and video tokenizers share: a quantized autoencoder module and the tokenizer around it.

`QuantizedAutoencoder`: subclasses set `encoder`, `decoder` and `quantizer` (FSQ/LFQ). `AutoencoderTokenizer`:
jitted encode (media -> flat int32 ids, latent raster order) and decode (ids on a latent grid -> media in
[0, 1]), save/load as config.json + safetensors. Subclasses set `kind`, `modality`, `config_cls`,
`model_cls`, and define input checks, `encode`/`decode` signatures and `tokens_per_item`.
"""
from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from omni_tokenizers.core import base


class LatentGrid:
    """Config mixin: `channels` stages of 2x spatial downsampling and FSQ/LFQ `levels`."""

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)

    @property
    def codebook_size(self) -> int:
        return int(np.prod(self.levels))


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
        self.vocab_size = cfg.codebook_size
        self.downsample = cfg.downsample
        self._build()

    def _build(self):
        graphdef, state = nnx.split(self.model)

        def enc(state, x):
            _, _, ids = nnx.merge(graphdef, state).encode(x)
            return ids.reshape(ids.shape[0], -1).astype(jnp.int32)

        def dec(state, ids, grid):
            m = nnx.merge(graphdef, state)
            zq = m.quantizer.ids_to_codes(ids.reshape((ids.shape[0],) + grid))
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
