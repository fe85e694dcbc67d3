"""Reading and writing media files for sampling: PNG/JPEG images, WAV/FLAC/OGG audio, MP4/GIF video.

Readers return float32 in [0, 1] (images [H, W, 3], video [T, H, W, 3]) or mono float32 audio [T] with its
sample rate; an unreadable or missing file raises `MediaError` naming the file and what was expected.
"""
from __future__ import annotations

import pathlib

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
AUDIO_EXTS = (".wav", ".flac", ".ogg")
VIDEO_EXTS = (".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi")
WHITE = (255, 255, 255)


class MediaError(ValueError):
    """A media file is missing, unreadable, or not of the expected kind."""


def _existing(path) -> pathlib.Path:
    p = pathlib.Path(path)
    if not p.is_file():
        raise MediaError(f"no such file: {p}")
    return p


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float in [0, 1] (or uint8) -> uint8, clipped."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    return np.round(np.clip(np.asarray(x, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Any PIL image -> float32 [H, W, 3] in [0, 1]; transparency is flattened onto white."""
    rgba = img.convert("RGBA")
    base = Image.new("RGBA", rgba.size, WHITE + (255,))
    rgb = Image.alpha_composite(base, rgba).convert("RGB")
    return np.asarray(rgb, np.float32) / 255.0


def read_image(path) -> np.ndarray:
    p = _existing(path)
    try:
        with Image.open(p) as img:
            img.load()
            return pil_to_array(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"cannot read {p} as an image (expected one of {IMAGE_EXTS}): {e}") from None


def write_image(path, image: np.ndarray) -> pathlib.Path:
    """image: [H, W, 3] float in [0, 1] or uint8 -> PNG (or the format of the suffix)."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise MediaError(f"an image to write must be [H, W, 3], got shape {a.shape}")
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(a), "RGB").save(p)
    return p


def read_audio(path) -> tuple[np.ndarray, int]:
    """-> (mono float32 [T] in [-1, 1], sample rate)."""
    import soundfile as sf  # on use: loads libsndfile, only for audio files
    p = _existing(path)
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as e:
        raise MediaError(f"cannot read {p} as audio (expected one of {AUDIO_EXTS}): {e}") from None
    if data.shape[0] == 0:
        raise MediaError(f"{p} holds no audio samples")
    return data.mean(axis=1).astype(np.float32), int(sr)


def write_audio(path, wave: np.ndarray, sample_rate: int) -> pathlib.Path:
    """wave: [T] float in [-1, 1] -> 16-bit PCM WAV (or FLAC/OGG by suffix)."""
    import soundfile as sf  # on use: loads libsndfile, only for audio files
    w = np.asarray(wave, np.float32)
    if w.ndim != 1:
        raise MediaError(f"audio to write must be mono [T], got shape {w.shape}")
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), np.clip(w, -1.0, 1.0), int(sample_rate), subtype="PCM_16" if p.suffix == ".wav" else None)
    return p


def read_video(path) -> np.ndarray:
    """-> float32 [T, H, W, 3] in [0, 1]; GIF through Pillow, the rest through ffmpeg (imageio-ffmpeg)."""
    p = _existing(path)
    if p.suffix.lower() == ".gif":
        try:
            with Image.open(p) as img:
                frames = [pil_to_array(f.copy()) for f in ImageSequence.Iterator(img)]
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise MediaError(f"cannot read {p} as a GIF video: {e}") from None
        return np.stack(frames)
    import imageio_ffmpeg  # on use: only for video files
    try:
        reader = imageio_ffmpeg.read_frames(str(p))
        meta = next(reader)
        w, h = meta["size"]
        frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]
    except (RuntimeError, OSError, StopIteration, KeyError, ValueError) as e:
        raise MediaError(f"cannot read {p} as a video (expected one of {VIDEO_EXTS}): {e}") from None
    if not frames:
        raise MediaError(f"{p} holds no video frames")
    return np.stack(frames).astype(np.float32) / 255.0


def write_video(path, frames: np.ndarray, fps: float = 8.0) -> pathlib.Path:
    """frames: [T, H, W, 3] float in [0, 1] or uint8 -> .mp4 (H.264 via imageio-ffmpeg) or .gif (Pillow)."""
    a = to_uint8(frames)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise MediaError(f"a video to write must be [T, H, W, 3], got shape {a.shape}")
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".gif":
        imgs = [Image.fromarray(f, "RGB") for f in a]
        imgs[0].save(p, save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0)
        return p
    if p.suffix.lower() != ".mp4":
        raise MediaError(f"video output must end in .mp4 or .gif, got {p.name}")
    import imageio_ffmpeg  # on use: only for video files
    T, H, W, _ = a.shape
    writer = imageio_ffmpeg.write_frames(str(p), (W, H), fps=fps, macro_block_size=1, codec="libx264",
                                         pix_fmt_out="yuv444p", output_params=["-crf", "12"])
    writer.send(None)
    for f in a:
        writer.send(np.ascontiguousarray(f).tobytes())
    writer.close()
    return p


def kind_of(path) -> str:
    """'image' | 'audio' | 'video' from the suffix (GIF reads as video only through read_video)."""
    s = pathlib.Path(path).suffix.lower()
    if s in AUDIO_EXTS:
        return "audio"
    if s in VIDEO_EXTS and s != ".gif":
        return "video"
    if s in IMAGE_EXTS:
        return "image"
    raise MediaError(f"unknown media suffix {s!r} of {path}; expected one of "
                     f"{sorted(set(IMAGE_EXTS + AUDIO_EXTS + VIDEO_EXTS))}")


OUTPUT_EXTS = {"text": (".txt",), "image": (".png", ".jpg", ".jpeg", ".bmp", ".webp"), "audio": AUDIO_EXTS,
               "video": (".mp4", ".gif")}


def check_output_path(path, modality: str) -> pathlib.Path:
    """The suffix must suit `modality` (checked before any work is done)."""
    p = pathlib.Path(path)
    if modality not in OUTPUT_EXTS:
        raise MediaError(f"cannot write {modality!r} media; expected one of {sorted(OUTPUT_EXTS)}")
    if p.suffix.lower() not in OUTPUT_EXTS[modality]:
        raise MediaError(f"{modality} output {p.name!r} must end in one of {OUTPUT_EXTS[modality]}")
    return p


def write_output(path, modality: str, media, *, sample_rate: int = 16000, fps: float = 8.0) -> pathlib.Path:
    """Writes one generated item: text .txt, image PNG/JPEG, audio WAV/FLAC/OGG, video MP4/GIF."""
    p = check_output_path(path, modality)
    if modality == "text":
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(str(media) + "\n")
        return p
    if modality == "image":
        return write_image(p, media)
    if modality == "audio":
        return write_audio(p, media, sample_rate)
    return write_video(p, media, fps)
