"""Differentiable STFT / inverse STFT with "same" framing, and mel filterbanks (JAX, float32).

"Same" framing: for T a multiple of hop, frame f is centred on samples [f*hop, (f+1)*hop), so an
item has exactly T / hop frames and `istft(stft(x)) == x`. Framing slices reshaped views instead of
gathering, which keeps gradients cheap on CPU; it needs n_fft to be a multiple of hop. The analysis
functions also take numpy arrays and then run in numpy (fast metrics, no compiles).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _xp(x):
    """numpy for numpy inputs, else jax.numpy."""
    return np if isinstance(x, np.ndarray) else jnp


def hann(n: int) -> np.ndarray:
    """Periodic Hann window of length n."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def _check(n_fft: int, hop: int) -> None:
    if hop <= 0 or n_fft <= 0 or n_fft % hop or (n_fft - hop) % 2:
        raise ValueError(f"n_fft ({n_fft}) must be a positive multiple of hop ({hop}) with n_fft - hop even")


def frames(x_bt: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """x [B, T] (T a multiple of hop) -> zero-padded overlapping frames [B, T // hop, n_fft]."""
    _check(n_fft, hop)
    xp = _xp(x_bt)
    b, t = x_bt.shape
    if t % hop:
        raise ValueError(f"signal length {t} must be a multiple of hop {hop}")
    pad = (n_fft - hop) // 2
    n = t // hop
    r = n_fft // hop
    # pad to (n + r - 1) * hop so the chunks split evenly, then stack r shifted chunk views
    padded = xp.pad(x_bt, ((0, 0), (pad, (n + r - 1) * hop - t - pad)))
    chunks = padded.reshape(b, n + r - 1, hop)
    return xp.concatenate([chunks[:, k:k + n] for k in range(r)], axis=-1)


def stft(x_bt: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """Complex STFT with a Hann window: x [B, T] -> [B, T // hop, n_fft // 2 + 1]."""
    return _xp(x_bt).fft.rfft(frames(x_bt, n_fft, hop) * hann(n_fft), axis=-1)


def magnitude(spec: jax.Array, eps: float = 1e-9) -> jax.Array:
    """|spec| with a finite gradient at 0."""
    xp = _xp(spec)
    return xp.sqrt(xp.real(spec) ** 2 + xp.imag(spec) ** 2 + eps)


def istft(spec_bnf: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """Inverse of `stft` (weighted overlap-add): [B, N, n_fft // 2 + 1] complex -> [B, N * hop]."""
    _check(n_fft, hop)
    b, n, _ = spec_bnf.shape
    r = n_fft // hop
    win = hann(n_fft)
    fr = jnp.fft.irfft(spec_bnf, n=n_fft, axis=-1) * win               # [B, N, n_fft]
    parts = fr.reshape(b, n, r, hop)
    out = jnp.zeros((b, n + r - 1, hop), fr.dtype)
    for k in range(r):
        out = out.at[:, k:k + n].add(parts[:, :, k])
    env = np.zeros((n + r - 1, hop), np.float32)
    w2 = (win ** 2).reshape(r, hop)
    for k in range(r):
        env[k:k + n] += w2[k]
    pad = (n_fft - hop) // 2
    out = out.reshape(b, -1) / np.maximum(env.reshape(-1), 1e-6)
    return out[:, pad:pad + n * hop]


@functools.lru_cache(maxsize=32)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """HTK-scale triangular filters (peak 1) over rfft bins: [n_fft // 2 + 1, n_mels]."""
    fmax = sample_rate / 2 if fmax is None else fmax

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (bins[:, None] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - bins[:, None]) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def mel_magnitude(x_bt: jax.Array, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> jax.Array:
    """Mel-filtered STFT magnitude: x [B, T] -> [B, T // hop, n_mels]."""
    return magnitude(stft(x_bt, n_fft, hop)) @ mel_filterbank(sample_rate, n_fft, n_mels)


def pad_to_multiple(x_bt: jax.Array, multiple: int) -> jax.Array:
    """Zero-pads the time axis of x [B, T] up to a multiple of `multiple`."""
    extra = (-x_bt.shape[-1]) % multiple
    return x_bt if extra == 0 else _xp(x_bt).pad(x_bt, ((0, 0), (0, extra)))

