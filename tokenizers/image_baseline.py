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
