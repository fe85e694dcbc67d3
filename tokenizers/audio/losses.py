"""Audio reconstruction losses (multi-scale mel, multi-resolution STFT) and metrics (mel distance, SI-SNR).

Waveforms are float32 [B, T]; lengths are zero-padded to each resolution's hop. The metrics are the
figures reported in docs/audio_tokenizer.md: mel distance = mean |log10 mel(ref) - log10 mel(est)|
(80 mels, n_fft 1024, hop 256, magnitudes clamped at 1e-5), SI-SNR in dB (scale-invariant SNR).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from omni_tokenizers.audio.dsp import magnitude, mel_magnitude, pad_to_multiple, stft

# (n_fft, n_mels); hop = n_fft // 4. Small windows resolve timing (and so phase), large ones pitch.
MEL_SCALES: tuple[tuple[int, int], ...] = ((2048, 128), (1024, 80), (512, 64), (256, 32), (128, 16))
STFT_SCALES: tuple[int, ...] = (2048, 512, 128)
CLAMP = 1e-5


def multiscale_mel_loss(x_bt: jax.Array, y_bt: jax.Array, sample_rate: int,
                        scales: tuple[tuple[int, int], ...] = MEL_SCALES) -> jax.Array:
    """Mean over scales of L1 between log10 mel magnitudes (DAC-style); y is the reconstruction."""
    total = 0.0
    for n_fft, n_mels in scales:
        hop = n_fft // 4
        xp, yp = pad_to_multiple(x_bt, hop), pad_to_multiple(y_bt, hop)
        mx = mel_magnitude(xp, sample_rate, n_fft, hop, n_mels)
        my = mel_magnitude(yp, sample_rate, n_fft, hop, n_mels)
        total = total + jnp.mean(jnp.abs(jnp.log10(jnp.maximum(mx, CLAMP)) - jnp.log10(jnp.maximum(my, CLAMP))))
    return total / len(scales)


def multiresolution_stft_loss(x_bt: jax.Array, y_bt: jax.Array,
                              scales: tuple[int, ...] = STFT_SCALES) -> jax.Array:
    """Spectral convergence + log-magnitude L1, averaged over n_fft in `scales` (hop n_fft // 4)."""
    total = 0.0
    for n_fft in scales:
        hop = n_fft // 4
        mx = magnitude(stft(pad_to_multiple(x_bt, hop), n_fft, hop))
        my = magnitude(stft(pad_to_multiple(y_bt, hop), n_fft, hop))
        sc = jnp.sqrt(jnp.sum((mx - my) ** 2)) / jnp.maximum(jnp.sqrt(jnp.sum(mx ** 2)), 1e-7)
        lm = jnp.mean(jnp.abs(jnp.log(jnp.maximum(mx, CLAMP)) - jnp.log(jnp.maximum(my, CLAMP))))
        total = total + sc + lm
    return total / len(scales)


def complex_stft_loss(x_bt: jax.Array, y_bt: jax.Array, n_fft: int = 512) -> jax.Array:
    """L1 between power-law compressed complex spectra (|S|^0.3 e^{i phase}): rewards matching phase."""
    hop = n_fft // 4
    sx = stft(pad_to_multiple(x_bt, hop), n_fft, hop)
    sy = stft(pad_to_multiple(y_bt, hop), n_fft, hop)

    def compress(s):
        m = magnitude(s)
        return s * (m ** 0.3 / m)

    cx, cy = compress(sx), compress(sy)
    return jnp.mean(jnp.abs(jnp.real(cx) - jnp.real(cy)) + jnp.abs(jnp.imag(cx) - jnp.imag(cy)))


COMPLEX_SCALES: tuple[int, ...] = (1024, 512, 256)


def multiresolution_complex_loss(x_bt: jax.Array, y_bt: jax.Array,
                                 scales: tuple[int, ...] = COMPLEX_SCALES) -> jax.Array:
    """`complex_stft_loss` averaged over n_fft in `scales`: zero only when magnitudes and phases both match."""
    return sum(complex_stft_loss(x_bt, y_bt, n) for n in scales) / len(scales)


def mel_distance(ref_bt, est_bt, sample_rate: int = 16000):
    """Per-item mean |log10 mel(ref) - log10 mel(est)| (80 mels, n_fft 1024, hop 256): [B].

    numpy in -> numpy out (float64 math, no compile); jax arrays stay in jax.
    """
    ref_bt, est_bt = _same_length(ref_bt, est_bt)
    xp = np if isinstance(ref_bt, np.ndarray) else jnp
    mr = mel_magnitude(pad_to_multiple(ref_bt, 256), sample_rate, 1024, 256, 80)
    me = mel_magnitude(pad_to_multiple(est_bt, 256), sample_rate, 1024, 256, 80)
    d = xp.abs(xp.log10(xp.maximum(mr, CLAMP)) - xp.log10(xp.maximum(me, CLAMP)))
    return xp.mean(d, axis=(1, 2))


def si_snr(ref_bt, est_bt, eps: float = 1e-8):
    """Scale-invariant SNR in dB per item (both signals mean-removed): [B]; numpy or jax like the input."""
    ref_bt, est_bt = _same_length(ref_bt, est_bt)
    xp = np if isinstance(ref_bt, np.ndarray) else jnp
    ref = ref_bt - xp.mean(ref_bt, -1, keepdims=True)
    est = est_bt - xp.mean(est_bt, -1, keepdims=True)
    scale = xp.sum(est * ref, -1, keepdims=True) / (xp.sum(ref * ref, -1, keepdims=True) + eps)
    target = scale * ref
    noise = est - target
    return 10.0 * xp.log10((xp.sum(target ** 2, -1) + eps) / (xp.sum(noise ** 2, -1) + eps))


def _same_length(a_bt, b_bt):
    """Both as numpy float64 (if both are numpy) or jax arrays, cut to the shorter length."""
    if isinstance(a_bt, np.ndarray) and isinstance(b_bt, np.ndarray):
        a_bt, b_bt = a_bt.astype(np.float64), b_bt.astype(np.float64)
    else:
        a_bt, b_bt = jnp.asarray(a_bt), jnp.asarray(b_bt)
    if a_bt.ndim != 2 or b_bt.ndim != 2 or a_bt.shape[0] != b_bt.shape[0]:
        raise ValueError(f"expected two waveform batches [B, T] with the same B, got {a_bt.shape} and "
                         f"{b_bt.shape}")
    t = min(a_bt.shape[1], b_bt.shape[1])
    if t == 0:
        raise ValueError("cannot compare empty waveforms")
    return a_bt[:, :t], b_bt[:, :t]
