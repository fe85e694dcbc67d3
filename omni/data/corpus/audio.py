"""Audio decoding with bad-data checks: mono float32 at `spec.sample_rate` in [-1, 1], or a `Skip`."""
from __future__ import annotations

import io
import pathlib
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec


def read_audio(src: str | pathlib.Path | bytes) -> tuple[np.ndarray, int]:
    """Decode WAV/OGG/FLAC to float32 [T, C] and its sample rate; undecodable input is `corrupt_audio`."""
    try:
        data, sr = sf.read(io.BytesIO(src) if isinstance(src, bytes) else str(src), dtype="float32",
                           always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as e:
        raise Skip("corrupt_audio", str(e)) from None
    return data, int(sr)


def trim_silence(x: np.ndarray, sr: int, threshold: float = 0.01, pad_s: float = 0.05) -> np.ndarray:
    loud = np.nonzero(np.abs(x) > threshold)[0]
    if loud.size == 0:
        return x[:0]
    pad = int(pad_s * sr)
    return x[max(loud[0] - pad, 0):loud[-1] + pad + 1]


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return x
    g = gcd(sr, target)
    return resample_poly(x, target // g, sr // g).astype(np.float32)


def conform_audio(data: np.ndarray, sr: int, spec: MediaSpec, crop: bool = False) -> np.ndarray:
    """[T, C] at `sr` -> mono [T'] at `spec.sample_rate`, silence trimmed, length checked, 16-bit grid.

    Speech with a transcript must fit the cap (`audio_too_long`); sounds (`crop=True`) are cut to it.
    """
    if not spec.min_sample_rate <= sr <= spec.max_sample_rate:
        raise Skip("bad_sample_rate", f"{sr} Hz not in [{spec.min_sample_rate}, {spec.max_sample_rate}]")
    if data.ndim != 2 or data.shape[0] == 0:
        raise Skip("empty_audio", f"shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise Skip("non_finite_audio")
    x = data.mean(axis=1)
    x = trim_silence(x, sr)
    if x.size == 0 or float(np.abs(x).max()) < 0.02:
        raise Skip("silent_audio")
    x = resample(x, sr, spec.sample_rate)
    secs = x.size / spec.sample_rate
    if secs < spec.min_audio_s:
        raise Skip("audio_too_short", f"{secs:.2f}s < {spec.min_audio_s}s")
    if secs > spec.max_audio_s and crop:
        x = x[:spec.max_audio_samples] * np.minimum(1.0, np.linspace(40.0, 0.0, spec.max_audio_samples))
    elif secs > spec.max_audio_s:
        raise Skip("audio_too_long", f"{secs:.2f}s > {spec.max_audio_s}s")
    x = x * (0.9 / max(float(np.abs(x).max()), 1e-6))  # peak-normalize: sources differ a lot in level
    return (np.round(np.clip(x, -1.0, 1.0) * 32767.0) / 32768.0).astype(np.float32)


def load_audio(src, spec: MediaSpec, crop: bool = False) -> np.ndarray:
    data, sr = read_audio(src)
    return conform_audio(data, sr, spec, crop)
