"""Judges nobody here wrote: an off-the-shelf speech recogniser, STOI, wide-band PESQ, colour from pixels.

Every generated or reconstructed medium is judged by a measure that is independent of the model:
- `transcribe`: CMU PocketSphinx (PyPI `pocketsphinx`, its bundled US-English acoustic model, dictionary and
  language model), the recogniser that judges real, reconstructed and generated speech;
- `stoi`, `pesq_wb`: the intelligibility and quality measures codec papers report (PyPI `pystoi`, `pesq`);
- `colour_name`, `dominant_channel`: colour words and the dominant RGB channel measured from pixels.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np

JUDGE_SR = 16000  # PocketSphinx's en-us model and wide-band PESQ both work at 16 kHz


def _at(audio: np.ndarray, sample_rate: int, rate: int = JUDGE_SR) -> np.ndarray:
    """float32 mono at `rate` (polyphase resampling when needed)."""
    x = np.asarray(audio, np.float32).reshape(-1)
    if sample_rate == rate:
        return x
    from scipy.signal import resample_poly  # heavy: only judges of audio at another rate need it
    g = math.gcd(int(sample_rate), int(rate))
    return resample_poly(x, rate // g, int(sample_rate) // g).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _decoder(vocabulary: tuple[str, ...] | None = None):
    # heavy (loads the 30 MB language model once per process): only speech judges need it
    from pocketsphinx import Decoder
    d = Decoder(samprate=JUDGE_SR, loglevel="FATAL")
    if vocabulary:
        unknown = [w for w in vocabulary if d.lookup_word(w) is None]
        if unknown:
            raise ValueError(f"vocabulary words must be in PocketSphinx's dictionary, not: {unknown[:5]}")
        # a word-loop grammar: any sequence of the given words (PocketSphinx's command-and-control mode)
        d.add_jsgf_string("vocabulary", "#JSGF V1.0;\ngrammar vocabulary;\npublic <utt> = <w>+;\n<w> = "
                          + " | ".join(vocabulary) + ";\n")
        d.activate_search("vocabulary")
    return d


def transcribe(audio: np.ndarray | None, sample_rate: int = JUDGE_SR,
               vocabulary: tuple[str, ...] | None = None) -> str:
    """PocketSphinx's transcript (lower case, words joined by spaces) of float audio in [-1, 1]; '' for none.

    `vocabulary`: recognise only sequences of these words (a JSGF word loop instead of the open English
    language model), for tasks whose answer is known to be among them, e.g. number words."""
    if audio is None or np.asarray(audio).size < sample_rate // 20:
        return ""
    x = _at(audio, sample_rate)
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    d = _decoder(tuple(vocabulary) if vocabulary else None)
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    hyp = d.hyp()
    if hyp is None:
        return ""
    words = [w for w in hyp.hypstr.lower().split() if not w.startswith(("<", "[", "++"))]
    return " ".join(words)


def _pair(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    r, d = _at(ref, sample_rate), _at(deg, sample_rate)
    n = min(len(r), len(d))
    if n < JUDGE_SR // 4:
        raise ValueError(f"need >= 0.25 s of audio to judge, got {n / JUDGE_SR:.2f} s")
    return r[:n].astype(np.float64), d[:n].astype(np.float64)


def stoi(ref: np.ndarray, deg: np.ndarray, sample_rate: int = JUDGE_SR) -> float:
    """Short-time objective intelligibility (Taal et al. 2011) of `deg` against `ref`, in [0, 1]; NaN where
    pystoi cannot judge (fewer than 30 non-silent frames: it warns and returns 1e-5, which would count a
    too-short clip as unintelligible)."""
    from pystoi import stoi as _stoi  # optional judge dependency, imported where it is used
    r, d = _pair(ref, deg, sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = float(_stoi(r, d, JUDGE_SR, extended=False))
    return float("nan") if v <= 1e-5 else v


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sample_rate: int = JUDGE_SR) -> float:
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO in ~[1.04, 4.64]); NaN when PESQ finds no utterance."""
    from pesq import PesqError, pesq  # optional judge dependency, imported where it is used
    r, d = _pair(ref, deg, sample_rate)
    try:
        return float(pesq(JUDGE_SR, r, d, "wb"))
    except PesqError:
        return float("nan")


# Colour words by hue (degrees, upper bound exclusive) for saturated pixels; greys by value.
HUES = ((15, "red"), (45, "orange"), (70, "yellow"), (165, "green"), (260, "blue"), (330, "purple"), (360, "red"))
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black", "grey")


def colour_words(pixels: np.ndarray, min_saturation: float = 0.35, min_value: float = 0.2) -> np.ndarray:
    """[..., 3] RGB (uint8, or float in [0, 1]) -> the colour word of each pixel (object array of str)."""
    p = np.asarray(pixels)
    p = p.astype(np.float32) / (255.0 if p.dtype == np.uint8 else 1.0)
    mx, mn = p.max(-1), p.min(-1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    r, g, b = p[..., 0], p[..., 1], p[..., 2]
    c = np.maximum(mx - mn, 1e-6)
    hue = np.select([mx == r, mx == g], [((g - b) / c) % 6, (b - r) / c + 2], (r - g) / c + 4) * 60.0
    out = np.full(p.shape[:-1], "grey", dtype=object)
    out[mx < min_value] = "black"
    out[(mx >= 0.85) & (sat < 0.15)] = "white"
    chroma = (sat >= min_saturation) & (mx >= min_value)
    lo = 0.0
    for hi, name in HUES:
        out[chroma & (hue >= lo) & (hue < hi)] = name
        lo = hi
    return out


def colour_name(image: np.ndarray, mask: np.ndarray | None = None, chromatic_only: bool = True) -> str | None:
    """The most frequent colour word of an image's pixels (within `mask` when given). With `chromatic_only`,
    only saturated colours count (white/black/grey backgrounds and outlines never win); None if none is."""
    words = colour_words(image)
    if mask is not None:
        words = words[np.asarray(mask, bool)]
    words = words.reshape(-1)
    if chromatic_only:
        words = words[~np.isin(words, ("white", "black", "grey"))]
    if words.size == 0:
        return None
    names, counts = np.unique(words.astype(str), return_counts=True)
    return str(names[np.argmax(counts)])


def dominant_channel(pixels: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """[..., 3] -> the index (0 R, 1 G, 2 B) of each pixel's dominant channel, -1 where no channel leads the
    other two by `margin` (of the full scale)."""
    p = np.asarray(pixels)
    p = p.astype(np.float32) / (255.0 if p.dtype == np.uint8 else 1.0)
    top = p.argmax(-1)
    srt = np.sort(p, -1)
    return np.where(srt[..., 2] - srt[..., 1] >= margin, top, -1)


def colour_kept(original: np.ndarray, reconstruction: np.ndarray, margin: float = 0.1) -> dict[str, float]:
    """Of the pixels of `original` with a dominant channel, the fraction whose reconstruction keeps that channel
    dominant (`all`) and per channel (`red`, `green`, `blue`; NaN where no pixel has it)."""
    a = dominant_channel(original, margin)
    b = np.asarray(reconstruction)
    b = b.astype(np.float32) / (255.0 if b.dtype == np.uint8 else 1.0)
    kept = b.argmax(-1) == a
    out = {"all": float(kept[a >= 0].mean()) if (a >= 0).any() else float("nan")}
    for i, name in enumerate(("red", "green", "blue")):
        out[name] = float(kept[a == i].mean()) if (a == i).any() else float("nan")
    return out
