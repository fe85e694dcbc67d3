"""Image decoding with bad-data checks: corrupt, too small/large or blank inputs raise `Skip`."""
from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec

WHITE = (255, 255, 255)


def open_image(src: str | pathlib.Path | bytes, spec: MediaSpec) -> Image.Image:
    """Decode fully (so truncation shows now), refusing sizes outside the spec before decoding pixels.

    A header claiming more pixels than PIL's decompression-bomb limit is `image_too_large` (PIL refuses it
    while opening, before the spec's own size check could run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Skip("image_too_large", str(e)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise Skip("corrupt_image", str(e)) from None
    w, h = img.size
    if max(w, h) > spec.max_image_side:
        raise Skip("image_too_large", f"{w}x{h} > {spec.max_image_side}")
    if min(w, h) < spec.min_image_side:
        raise Skip("image_too_small", f"{w}x{h} < {spec.min_image_side}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise Skip("corrupt_image", str(e)) from None
    return img


def to_rgba(img: Image.Image) -> Image.Image:
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGBA")


def to_rgb(img: Image.Image, background=WHITE) -> Image.Image:
    """Flatten alpha over `background` (stamps are cut-outs); grey and palette images become RGB."""
    rgba = to_rgba(img)
    base = Image.new("RGBA", rgba.size, background + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def square(img: Image.Image, size: int, fit: str = "crop", background=WHITE) -> Image.Image:
    """`crop`: centre square of a photo; `pad`: whole picture on a square canvas (cut-outs keep their edges)."""
    w, h = img.size
    if fit == "crop":
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    elif fit == "pad":
        s = max(w, h)
        canvas = Image.new(img.mode, (s, s), background if img.mode == "RGB" else background + (0,))
        canvas.paste(img, ((s - w) // 2, (s - h) // 2))
        img = canvas
    else:
        raise ValueError(f"fit must be 'crop' or 'pad', got {fit!r}")
    return img.resize((size, size), Image.Resampling.LANCZOS if s > size else Image.Resampling.BICUBIC)


def check_not_blank(arr: np.ndarray, what: str = "image"):
    if arr.size == 0 or float(arr.astype(np.float32).std()) < 2.0:
        raise Skip(f"blank_{what}", "no visible content (near-constant pixels)")


def load_image(src, spec: MediaSpec, fit: str = "crop", size: int | None = None) -> np.ndarray:
    """Decode, flatten alpha, square to `size` (default `spec.image_size`): uint8 [S, S, 3]."""
    img = to_rgb(open_image(src, spec))
    arr = np.asarray(square(img, size or spec.image_size, fit), np.uint8)
    check_not_blank(arr)
    return arr


def load_cutout(src, spec: MediaSpec) -> np.ndarray:
    """A cut-out with real transparency, cropped to its visible pixels: uint8 [H, W, 4]."""
    img = open_image(src, spec)
    if "A" not in img.getbands() and not (img.mode == "P" and "transparency" in img.info):
        raise Skip("no_alpha", f"mode {img.mode}")
    rgba = np.asarray(to_rgba(img), np.uint8)
    mask = rgba[..., 3] > 16
    if mask.mean() > 0.98 or mask.mean() < 0.01:
        raise Skip("no_alpha", f"visible fraction {mask.mean():.3f}")
    ys, xs = np.nonzero(mask)
    return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
