"""Video decoding (imageio-ffmpeg's bundled ffmpeg) and clip checks: [F, S, S, 3] uint8 or a `Skip`."""
from __future__ import annotations

import pathlib

import numpy as np
from PIL import Image

from omni.data.corpus.images import check_not_blank, square
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec


def read_video(path: str | pathlib.Path, max_frames: int = 2000) -> tuple[list[np.ndarray], float]:
    """All frames (RGB uint8 [H, W, 3]) and the frame rate; undecodable files are `corrupt_video`."""
    import imageio_ffmpeg  # optional: only video sources need the ffmpeg binary

    try:
        gen = imageio_ffmpeg.read_frames(str(path))
        meta = next(gen)
        w, h = meta["size"]
        frames = []
        for raw in gen:
            frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
            if len(frames) >= max_frames:
                gen.close()
                break
    except (OSError, RuntimeError, StopIteration, ValueError, KeyError) as e:
        raise Skip("corrupt_video", str(e)[-200:]) from None
    if not frames:
        raise Skip("corrupt_video", "no frames decoded")
    return frames, float(meta.get("fps") or 25.0)


def conform_clip(frames, spec: MediaSpec) -> np.ndarray:
    """Frames -> [spec.video_frames, S, S, 3] (centre square, resized); wrong length or blank is a `Skip`."""
    if len(frames) != spec.video_frames:
        raise Skip("bad_video_length", f"{len(frames)} frames, expected {spec.video_frames}")
    out = []
    for f in frames:
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise Skip("bad_video_frame", f"frame {f.dtype} {f.shape}, expected uint8 [H, W, 3]")
        if min(f.shape[:2]) < spec.video_size // 2:
            raise Skip("video_too_small", f"{f.shape[1]}x{f.shape[0]}")
        out.append(np.asarray(square(Image.fromarray(f), spec.video_size, "crop"), np.uint8))
    clip = np.stack(out)
    check_not_blank(clip, "video")
    return clip
