"""Band-limited resampling by a rational factor: polyphase Kaiser-windowed sinc (numpy, any batch shape).

The rate changes by up / down = target / orig (reduced by their gcd). The anti-alias low-pass cuts
at `rolloff` x the lower Nyquist frequency; the filter is zero-phase, so output sample j sits at
time j / target_sr exactly and DC gain is 1.
"""
from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=16)
def _phase_filters(up: int, down: int, zeros: int, rolloff: float, beta: float) -> tuple[np.ndarray, int]:
    """Taps [up, 2K + 2] (phase p, input offset m = -K..K+1) of the prototype filter, and K."""
    cutoff = rolloff * 0.5 / max(up, down)        # cycles per sample of the up-sampled stream
    half = zeros * max(up, down)                  # filter half length in up-sampled samples
    k = math.ceil(half / up)
    p = np.arange(up)[:, None]
    m = np.arange(-k, k + 2)[None, :]
    t = (p - m * up).astype(np.float64)           # distance (up-sampled samples) to input sample
    inside = np.abs(t) <= half
    win = np.where(inside, np.i0(beta * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, 1.0))) / np.i0(beta), 0.0)
    h = 2 * cutoff * np.sinc(2 * cutoff * t) * win
    h /= h.sum(axis=1, keepdims=True)             # exact unit DC gain for every phase
    return h.astype(np.float32), k


def resample(wave: np.ndarray, orig_sr: int, target_sr: int, *, zeros: int = 16, rolloff: float = 0.945,
             beta: float = 8.6, chunk: int = 1 << 16) -> np.ndarray:
    """wave [..., T] at orig_sr -> [..., ceil(T * target_sr / orig_sr)] at target_sr (float32)."""
    for name, sr in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if int(sr) != sr or sr <= 0:
            raise ValueError(f"{name} must be a positive integer in Hz, got {sr}")
    wave = np.asarray(wave)
    if not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"resample expects a float waveform, got dtype {wave.dtype}")
    if wave.ndim == 0:
        raise ValueError("resample expects a waveform [..., T], got a scalar")
    g = math.gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // g, int(orig_sr) // g
    x = wave.astype(np.float32)
    if up == down:
        return x.copy()
    t_in = x.shape[-1]
    t_out = -(-t_in * up // down)
    h, k = _phase_filters(up, down, zeros, rolloff, beta)
    lead = x.reshape(-1, t_in)
    xp = np.pad(lead, ((0, 0), (k, k + 2)))     # input index i lives at xp[:, i + k]
    out = np.empty((lead.shape[0], t_out), np.float32)
    offs = np.arange(-k, k + 2)
    for s in range(0, t_out, chunk):
        j = np.arange(s, min(s + chunk, t_out))
        base = (j * down) // up                   # nearest input sample at or before output j
        phase = j * down - base * up
        taps = h[phase]                           # [J, 2K + 2]
        idx = base[:, None] + offs[None, :] + k
        out[:, s:s + len(j)] = np.einsum("bjm,jm->bj", _take(xp, idx), taps)
    return out.reshape(*x.shape[:-1], t_out)


def _take(xp: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """xp [B, L] gathered at idx [J, M] -> [B, J, M]."""
    return xp[:, idx]
