"""Prompt items (text, images, audio, video, or ready tokens) -> local token ids, preprocessed as in training.

An item is a `str` (text), a PIL image or float/uint8 array [H, W, 3] (image), `Audio(wave, rate)` or a
`(wave, rate)` tuple (audio), `Video(frames)` or an array [T, H, W, 3] (video), `Tokens(modality, ids)`
(already tokenized local ids; audio [levels, frames]), or a path to a media file. Images and frames are
centre-cropped and resized to the trained size, clips resampled to the trained frame count, audio made
mono at the trained rate, trimmed and peak-normalized like the corpus, and cut to the trained length.
"""
from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np
from PIL import Image

from omni.data import tasks
from omni.data.corpus.images import square
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec
from omni.sampling import media_io
from omni.sampling.spec import SamplingSpec


@dataclasses.dataclass(frozen=True)
class Audio:
    """A waveform [T] (or [T, C], averaged to mono) at `sample_rate` Hz."""

    wave: np.ndarray
    sample_rate: int


@dataclasses.dataclass(frozen=True)
class Video:
    """Frames [T, H, W, 3], float in [0, 1] or uint8."""

    frames: np.ndarray


@dataclasses.dataclass(frozen=True)
class Tokens:
    """Already tokenized local ids of `modality` (text/image/video [n]; audio [levels, frames])."""

    modality: str
    ids: np.ndarray


def load_file(kind: str, path) -> object:
    """Reads a media file as a prompt item of `kind` (image / audio / video; a GIF may be either)."""
    if kind == "image":
        return media_io.read_image(path)
    if kind == "audio":
        wave, sr = media_io.read_audio(path)
        return Audio(wave, sr)
    if kind == "video":
        return Video(media_io.read_video(path))
    raise ValueError(f"cannot read a {kind!r} file; expected image, audio or video")


def classify(item) -> tuple[str, object]:
    """-> (modality, the item in a canonical form); unrecognised items raise naming what is accepted."""
    if isinstance(item, Tokens):
        return item.modality, item
    if isinstance(item, str):
        return "text", item
    if isinstance(item, pathlib.Path):
        return classify(load_file(media_io.kind_of(item), item))
    if isinstance(item, Image.Image):
        return "image", media_io.pil_to_array(item)
    if isinstance(item, Audio):
        return "audio", item
    if isinstance(item, Video):
        return "video", item
    if isinstance(item, tuple) and len(item) == 2 and np.isscalar(item[1]):
        return "audio", Audio(np.asarray(item[0]), item[1])  # the rate is checked by prepare_audio
    if isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        a = np.asarray(item)
        if a.ndim == 3 and a.shape[-1] == 3:
            return "image", a
        if a.ndim == 4 and a.shape[-1] == 3:
            return "video", Video(a)
        raise ValueError(f"an array prompt item must be an image [H, W, 3] or a video [T, H, W, 3], got shape "
                         f"{a.shape} (wrap audio as omni.sampling.Audio(wave, sample_rate))")
    raise ValueError(f"cannot use a {type(item).__name__} as a prompt item; expected a str (text), a PIL image or "
                     f"array [H, W, 3], Audio(wave, sample_rate) or (wave, rate), Video(frames) or array "
                     f"[T, H, W, 3], Tokens(modality, ids), or a pathlib.Path to a media file")


def _float01(a: np.ndarray, what: str, layout: str) -> np.ndarray:
    """`a` as float32 in [0, 1] after checking its layout ("H, W, 3"), emptiness, dtype and values."""
    a = np.asarray(a)
    dims = layout.split(", ")
    if a.ndim != len(dims) or a.shape[-1] != 3:
        raise ValueError(f"{what} must be an array [{layout}], got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape}); expected [{layout}] with every size >= 1")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{what} must be float in [0, 1] or uint8, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"{what} values must be finite and lie in [0, 1] (shape {a.shape})")
    return a


def square_image(img: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] in [0, 1] -> centre-cropped, resized [size, size, 3] in [0, 1] (as the corpus does)."""
    pil = Image.fromarray(media_io.to_uint8(img), "RGB")
    return np.asarray(square(pil, size, "crop"), np.float32) / 255.0


def prepare_image(img: np.ndarray, spec: SamplingSpec) -> np.ndarray:
    return square_image(_float01(img, "image", "H, W, 3"), spec.image_size)


def prepare_video(frames: np.ndarray, spec: SamplingSpec) -> np.ndarray:
    """[T, H, W, 3] -> [video_frames, video_size, video_size, 3]: evenly spaced frames, each squared."""
    a = _float01(frames, "video frames", "T, H, W, 3")
    idx = np.round(np.linspace(0, a.shape[0] - 1, spec.video_frames)).astype(int)
    return np.stack([square_image(a[i], spec.video_size) for i in idx])


def prepare_audio(audio: Audio, spec: SamplingSpec) -> np.ndarray:
    """-> mono float32 [T] at spec.sample_rate, trimmed, peak-normalized and cut to max_audio_s."""
    from omni.data.corpus.audio import conform_audio  # on use: imports scipy, needed only for audio prompts
    sr = audio.sample_rate
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer, float, np.floating)) \
            or not np.isfinite(sr) or sr <= 0 or sr != int(sr):
        raise ValueError(f"audio sample_rate must be a positive whole number of Hz (e.g. 16000), got {sr!r}")
    w = np.asarray(audio.wave)
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise ValueError(f"audio must be a real-valued waveform (float in [-1, 1] or integer PCM), got dtype {w.dtype}")
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"audio must be a waveform [T] or [T, channels] with T > 0, got shape {w.shape}")
    if w.shape[1] > w.shape[0]:
        raise ValueError(f"audio must be [T, channels] (time first), got shape {w.shape}: more channels than "
                         f"samples; pass a channels-first [channels, T] array transposed (wave.T)")
    w = w.astype(np.float32)
    media = MediaSpec(sample_rate=spec.sample_rate, max_audio_s=spec.max_audio_s,
                      min_audio_s=min(0.15, spec.max_audio_s / 2))
    if w.shape[0] / sr > spec.max_audio_s:
        warnings.warn(f"audio prompt of {w.shape[0] / sr:.2f}s is cut to the trained {spec.max_audio_s}s",
                      stacklevel=3)
    try:
        return conform_audio(w, int(sr), media, crop=True)
    except Skip as e:
        raise ValueError(f"unusable audio prompt ({e}); expected {media.min_sample_rate}-"
                         f"{media.max_sample_rate} Hz audio of {media.min_audio_s}-{spec.max_audio_s}s "
                         f"that is not silent") from None


def tokenize_item(modality: str, item, tokenizers: dict, spec: SamplingSpec) -> np.ndarray:
    """One classified item -> local ids in sequence layout (audio frame-major, `tasks.audio_to_sequence`)."""
    k = spec.audio_quantizers
    if isinstance(item, Tokens):
        ids = np.asarray(item.ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{modality} tokens must be integer local ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= np.iinfo(np.int32).max):
            raise ValueError(f"{modality} tokens must be local ids >= 0, got range [{ids.min()}, {ids.max()}]")
        if modality == "audio":
            return tasks.audio_to_sequence(ids, k).astype(np.int32)
        if ids.ndim != 1:
            raise ValueError(f"{modality} tokens must be 1-D local ids, got shape {ids.shape}")
        want = spec.fixed_tokens(modality)
        if want and ids.shape[0] != want:
            raise ValueError(f"{modality} tokens must be the {want} ids of one {modality}, got {ids.shape[0]}")
        return ids.astype(np.int32)
    if modality not in tokenizers:
        raise ValueError(f"this bundle has no {modality} tokenizer; give {modality} as Tokens(...) instead "
                         f"(bundle tokenizers: {sorted(tokenizers)})")
    tok = tokenizers[modality]
    if modality == "text":
        return np.asarray(tok.encode([item])[0], np.int32)
    if modality == "image":
        ids = np.asarray(tok.encode(prepare_image(item, spec)[None]))[0]
    elif modality == "video":
        ids = np.asarray(tok.encode(prepare_video(item.frames, spec)[None]))[0]
    else:
        wave = prepare_audio(item, spec)  # level-offset ids l * codebook + code, level by level
        codes = np.asarray(tok.encode(wave[None], sample_rate=spec.sample_rate, num_quantizers=k))[0]
        return tasks.audio_to_sequence(codes.reshape(k, -1), k)
    want = spec.fixed_tokens(modality)
    if ids.shape[-1] != want:
        raise ValueError(f"the {modality} tokenizer gave {ids.shape[-1]} tokens but the model was trained on "
                         f"{want} per {modality}")
    return ids.astype(np.int32)


def tokenize_prompt(items, tokenizers: dict, spec: SamplingSpec) -> list[tuple[str, np.ndarray]]:
    """A list of prompt items (or one item) -> [(modality, local ids)], checked against trained inputs."""
    if not isinstance(items, (list, tuple)) or (isinstance(items, tuple) and len(items) == 2
                                                and np.isscalar(items[1])):
        items = [items]
    out = []
    for i, item in enumerate(items):
        modality, canon = classify(item)
        if modality not in spec.trained_inputs:
            raise ValueError(f"prompt item {i} is {modality}, but this model was trained on "
                             f"{list(spec.trained_inputs)} inputs")
        out.append((modality, tokenize_item(modality, canon, tokenizers, spec)))
    return out
