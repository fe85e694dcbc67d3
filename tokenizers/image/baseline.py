"""Classical image codec baseline: WebP (or JPEG) via Pillow at the lowest quality reaching a bit budget.

Bits count the codec payload: the WebP RIFF container (12 bytes) and chunk headers (8 bytes each)
are excluded, as the audio baseline excludes Ogg framing; JPEG counts the whole file.
"""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def webp_payload_bytes(data: bytes) -> int:
    """Sum of the chunk payload sizes of a RIFF/WEBP file (container headers excluded)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a RIFF/WEBP file")
    pos, total = 12, 0
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        total += size
        pos += 8 + size + (size & 1)
    return total


def roundtrip(image: np.ndarray, quality: int, codec: str = "webp") -> tuple[np.ndarray, int]:
    """uint8 [H, W, 3] -> (decoded uint8 [H, W, 3], payload bits)."""
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"baseline codec takes one uint8 [H, W, 3] image, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    if codec == "webp":
        Image.fromarray(image).save(buf, "WEBP", quality=int(quality), method=6)
        bits = 8 * webp_payload_bytes(buf.getvalue())
    elif codec == "jpeg":
        Image.fromarray(image).save(buf, "JPEG", quality=max(1, int(quality)))
        bits = 8 * buf.tell()
    else:
        raise ValueError(f"codec must be 'webp' or 'jpeg', got {codec!r}")
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out, bits


def at_bits(image: np.ndarray, target_bits: float, codec: str = "webp") -> tuple[np.ndarray, int, int]:
    """The lowest quality whose payload is >= target_bits (or quality 100): (decoded, bits, quality)."""
    lo, hi = 0, 100
    best = None
    while lo <= hi:  # payload grows with quality (nearly monotone); binary search the first q >= target
        q = (lo + hi) // 2
        out, bits = roundtrip(image, q, codec)
        if bits >= target_bits:
            best = (out, bits, q)
            hi = q - 1
        else:
            lo = q + 1
    if best is None:
        out, bits = roundtrip(image, 100, codec)
        best = (out, bits, 100)
    return best


def at_bits_rescaled(image: np.ndarray, target_bits: float, codec: str = "webp",
                     scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375),
                     full: tuple[np.ndarray, int, int] | None = None
                     ) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Rate control by resolution too: code a bicubic downscale at the lowest quality reaching target_bits
    and upscale back; returns the setting whose bits are closest to the target from above.

    This is the classical way to reach very low rates (the audio baseline lowers its sample rate);
    it gives the codec a setting near the learned tokenizer's bits when full resolution cannot go that
    low. `full`: the result of `at_bits(image, target_bits, codec)` when the caller already has it (the
    full-resolution search is then not run again). Returns (decoded uint8 [H, W, 3], payload bits,
    (side, quality)).
    """
    h, w = image.shape[:2]

    def full_resolution():
        nonlocal full
        if full is None:
            full = at_bits(image, target_bits, codec)
        return full

    best = None
    for s in scales:
        sh, sw = max(8, round(h * s)), max(8, round(w * s))
        if (sh, sw) == (h, w):
            out, bits, q = full_resolution()
        else:
            small = np.asarray(Image.fromarray(image).resize((sw, sh), Image.BICUBIC))
            out, bits, q = at_bits(small, target_bits, codec)
            out = np.asarray(Image.fromarray(out).resize((w, h), Image.BICUBIC))
        if bits >= target_bits and (best is None or bits < best[1]):
            best = (out, bits, (sh, q))
    if best is None:  # even quality 100 at full size is below the target
        out, bits, q = full_resolution()
        best = (out, bits, (h, q))
    return best
