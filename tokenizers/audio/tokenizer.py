"""AudioTokenizer (kind "audio_rvq"): 16 kHz waveforms <-> residual-VQ codes laid out level by level.

encode: float32 [B, T] in [-1, 1] -> int32 [B, k * frames], frames = ceil(T / hop), all frames of
level 0, then all frames of level 1, ...; local id = level * codebook_size + code, so
vocab_size = num_quantizers * codebook_size and a token's level is id // codebook_size.
decode: int32 [B, k * frames] -> float32 [B, frames * hop] (k inferred from the ids' levels).
"""
from __future__ import annotations

import functools
import math
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from omni_tokenizers.audio.codec import AudioCodec, AudioCodecConfig
from omni_tokenizers.audio.resample import resample as resample_wave
from omni_tokenizers.core.base import (
    Tokenizer,
    batch_split,
    check_ids,
    check_nonempty,
    check_range,
    check_rank,
    check_sample_rate,
    config_from_payload,
    load_module,
    read_config,
    replicated,
    save_module,
    write_config,
)
from omni_tokenizers.registry import TOKENIZERS


@TOKENIZERS.register("audio_rvq")
class AudioTokenizer(Tokenizer):
    """Neural RVQ codec as a tokenizer; `num_quantizers=k` (encode/decode) uses the first k levels."""

    kind = "audio_rvq"
    modality = "audio"

    def __init__(self, cfg: AudioCodecConfig | None = None, model: AudioCodec | None = None):
        self.cfg = (cfg or AudioCodecConfig()).validate()
        self.model = model if model is not None else AudioCodec(self.cfg)
        self.sample_rate = self.cfg.sample_rate
        self.hop = self.cfg.hop
        self.num_quantizers = self.cfg.num_quantizers
        self.codebook_size = self.cfg.codebook_size
        self.vocab_size = self.num_quantizers * self.codebook_size
        graphdef, self._state = nnx.split(self.model)

        @functools.partial(jax.jit, static_argnums=2)
        def enc(state, wave, k):
            return nnx.merge(graphdef, state).encode(wave, k)

        @jax.jit
        def dec(state, codes):
            return nnx.merge(graphdef, state).decode(codes)

        self._enc, self._dec = enc, dec  # compiled once per input shape, weights passed as arguments
        self._graphdef, self._mesh = graphdef, None

    def encode_fn(self, state, wave, k: int | None = None):
        """(state, wave [B, T], T a multiple of hop) -> int32 ids [B, k * frames] level by level; traceable
        (sharded tokenization, ahead-of-time programs)."""
        k = self.num_quantizers if k is None else k
        codes = nnx.merge(self._graphdef, state).encode(wave, k)  # [B, N, k]
        offsets = (jnp.arange(k, dtype=jnp.int32) * self.codebook_size)[None, :, None]
        return (codes.transpose(0, 2, 1) + offsets).reshape(codes.shape[0], -1).astype(jnp.int32)

    def shard(self, mesh) -> None:
        """Encode batches split over `mesh`'s devices (weights replicated); same ids as on one device."""
        self._mesh = mesh
        self._state = jax.device_put(self._state, replicated(mesh))
        graphdef = self._graphdef
        self._enc = jax.jit(lambda state, wave, k: nnx.merge(graphdef, state).encode(wave, k), static_argnums=2,
                            in_shardings=(replicated(mesh), batch_split(mesh)), out_shardings=batch_split(mesh))

    def refresh(self) -> None:
        """Re-reads the model's current weights (call after training steps changed them)."""
        self._state = nnx.split(self.model)[1]
        if self._mesh is not None:
            self.shard(self._mesh)

    # -- shapes --------------------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def num_frames(self, num_samples: int) -> int:
        """Frames for num_samples samples at the tokenizer's rate (the tail is zero-padded)."""
        return -(-int(num_samples) // self.hop)

    def tokens_per_item(self, shape: Sequence[int] | int, num_quantizers: int | None = None) -> int:
        """Tokens for one waveform of `shape` = (num_samples,): k * ceil(num_samples / hop)."""
        n = int(shape) if isinstance(shape, (int, np.integer)) else int(tuple(shape)[-1])
        return self._levels(num_quantizers) * self.num_frames(n)

    def bits_per_item(self, shape: Sequence[int] | int, num_quantizers: int | None = None) -> float:
        """Bits the codes carry: each token picks one of codebook_size codes of its (known) level."""
        return self.tokens_per_item(shape, num_quantizers) * math.log2(self.codebook_size)

    def bits_per_second(self, num_quantizers: int | None = None) -> float:
        return self.frame_rate * self._levels(num_quantizers) * math.log2(self.codebook_size)

    def _levels(self, k: int | None) -> int:
        k = self.num_quantizers if k is None else k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.num_quantizers:
            raise ValueError(f"num_quantizers must be an integer in [1, {self.num_quantizers}], got {k!r}")
        return int(k)

    # -- encode / decode -----------------------------------------------------------------------
    def check_audio(self, wave, sample_rate: int, resample: bool = False, name: str = "audio") -> np.ndarray:
        """Validates float [B, T] in [-1, 1] at `sample_rate` (resampled only when asked); -> float32."""
        if not hasattr(wave, "shape"):
            wave = np.asarray(wave)
        check_rank(wave, 2, name, "[B, T] mono waveforms")
        dt = np.dtype(wave.dtype)
        if not (np.issubdtype(dt, np.floating) or dt == jnp.bfloat16):
            raise ValueError(f"{name} must be a float waveform in [-1, 1], got dtype {dt} "
                             f"(convert int16 PCM with x.astype(np.float32) / 32768)")
        check_nonempty(wave, name)
        wave = np.asarray(wave, np.float32)
        check_range(wave, -1.0, 1.0, name)
        if check_sample_rate(sample_rate, self.sample_rate, resample, name):
            wave = np.clip(resample_wave(wave, int(sample_rate), self.sample_rate), -1.0, 1.0)
        limit = int(self.cfg.max_seconds * self.sample_rate)
        if wave.shape[1] > limit:
            raise ValueError(f"{name} is too long: {wave.shape[1]} samples > the maximum {limit} "
                             f"({self.cfg.max_seconds:g} s at {self.sample_rate} Hz); split it first")
        return wave

    def encode(self, batch, sample_rate: int | None = None, num_quantizers: int | None = None,
               resample: bool = False) -> np.ndarray:
        """float32 [B, T] in [-1, 1] -> int32 [B, k * ceil(T / hop)], level by level (see module doc)."""
        k = self._levels(num_quantizers)
        wave = self.check_audio(batch, self.sample_rate if sample_rate is None else sample_rate, resample)
        t = wave.shape[1]
        padded = np.pad(wave, ((0, 0), (0, self.num_frames(t) * self.hop - t)))
        codes = np.asarray(self._enc(self._state, jnp.asarray(padded), k))  # [B, N, k]
        offsets = (np.arange(k, dtype=np.int32) * self.codebook_size)[None, :, None]
        return (codes.transpose(0, 2, 1) + offsets).reshape(codes.shape[0], -1).astype(np.int32)

    def split_levels(self, ids, num_quantizers: int | None = None) -> np.ndarray:
        """ids [B, k * frames] -> codes [B, k, frames] in [0, codebook_size); checks the level layout."""
        ids = check_ids(ids, self.vocab_size, "audio ids", ndim=2)
        ids = np.asarray(ids).astype(np.int64)
        length = ids.shape[1]
        if num_quantizers is None:
            k = int(ids.max()) // self.codebook_size + 1
        else:
            k = self._levels(num_quantizers)
        if length % k:
            raise ValueError(f"audio ids of length {length} do not split into {k} levels of equal frames")
        frames = length // k
        levels = ids.reshape(ids.shape[0], k, frames) // self.codebook_size
        expected = np.arange(k)[None, :, None]
        if not np.all(levels == expected):
            bad = np.argwhere(levels != expected)[0]
            raise ValueError(f"audio ids are not laid out level by level for k={k}, frames={frames}: item "
                             f"{bad[0]}, token {bad[1] * frames + bad[2]} has level "
                             f"{int(levels[tuple(bad)])}, expected {bad[1]}")
        return (ids.reshape(ids.shape[0], k, frames) % self.codebook_size).astype(np.int32)

    def decode(self, ids, num_quantizers: int | None = None, num_samples: int | None = None) -> np.ndarray:
        """int32 [B, k * frames] -> float32 [B, frames * hop] in [-1, 1] (or cut to num_samples)."""
        codes = self.split_levels(ids, num_quantizers)
        wave = np.asarray(self._dec(self._state, jnp.asarray(codes.transpose(0, 2, 1))))
        if num_samples is not None:
            if not 0 < int(num_samples) <= wave.shape[1]:
                raise ValueError(f"num_samples must be in [1, {wave.shape[1]}] for {codes.shape[2]} frames, "
                                 f"got {num_samples}")
            wave = wave[:, :int(num_samples)]
        return np.clip(wave, -1.0, 1.0).astype(np.float32)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | pathlib.Path) -> None:
        write_config(directory, self.kind, self.modality, self.cfg, vocab_size=self.vocab_size)
        save_module(self.model, directory)

    @classmethod
    def load(cls, directory: str | pathlib.Path) -> AudioTokenizer:
        payload = read_config(directory, cls.kind)
        # saves made before the `phase` option decoded absolute per-frame phases
        payload["config"].setdefault("phase", "absolute")
        payload["config"].setdefault("dec_subframes", 1)  # and synthesised one STFT frame per hop
        cfg = config_from_payload(AudioCodecConfig, payload)
        model = nnx.eval_shape(lambda: AudioCodec(cfg))  # abstract: the weights come from the file
        load_module(model, directory)
        return cls(cfg, model)

