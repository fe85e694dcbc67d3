"""Byte encoding of one example for the per-source stage files: an uncompressed .npz, loaded without pickle."""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from omni.data.corpus.schema import FIELDS, check_example


def encode_example(ex: dict[str, Any]) -> bytes:
    check_example(ex)
    arrays = {k: (np.asarray(ex[k]) if isinstance(ex[k], np.ndarray) else np.array(ex[k])) for k in FIELDS}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode_example(data: bytes) -> dict[str, Any]:
    """Inverse of `encode_example`; raises ValueError for anything that is not a valid example."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile / numpy format errors
        raise ValueError(f"not an encoded corpus example: {e}") from e
    ex: dict[str, Any] = {}
    for k in FIELDS:
        if k not in raw:
            raise ValueError(f"encoded example lacks field {k!r}")
        v = raw[k]
        if k in ("image", "audio", "video"):
            ex[k] = v
        elif k.startswith("has_"):
            ex[k] = bool(v)
        else:
            ex[k] = str(v)
    check_example(ex)
    return ex
