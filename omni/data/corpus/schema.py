"""The one example schema of `omni_corpus`: field names, dtypes, empty values, and the held-out split."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

FIELDS = ("id", "source", "item", "text", "image", "audio", "video",
          "has_image", "has_audio", "has_video", "label")
TEXT_FIELDS = ("id", "source", "item", "text", "label")


def empty_image() -> np.ndarray:
    return np.zeros((0, 0, 3), np.uint8)


def empty_audio() -> np.ndarray:
    return np.zeros((0,), np.float32)


def empty_video() -> np.ndarray:
    return np.zeros((0, 0, 0, 3), np.uint8)


def make_example(*, id: str, source: str, item: str, text: str = "", image: np.ndarray | None = None,
                 audio: np.ndarray | None = None, video: np.ndarray | None = None,
                 label: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build a complete example dict; absent media get their empty shape and `has_*` = False."""
    ex = {
        "id": id, "source": source, "item": item, "text": text,
        "image": empty_image() if image is None else image,
        "audio": empty_audio() if audio is None else audio,
        "video": empty_video() if video is None else video,
        "label": json.dumps(label or {}, sort_keys=True, ensure_ascii=False),
    }
    ex["has_image"] = image is not None
    ex["has_audio"] = audio is not None
    ex["has_video"] = video is not None
    check_example(ex)
    return ex


def check_example(ex: dict[str, Any]):
    """Raise ValueError naming the field when an example does not match the schema."""
    if set(ex) != set(FIELDS):
        raise ValueError(f"example fields {sorted(ex)} != expected {sorted(FIELDS)}")
    for k in TEXT_FIELDS:
        if not isinstance(ex[k], str):
            raise ValueError(f"field {k!r} must be str, got {type(ex[k]).__name__}")
    for k in ("id", "source", "item"):
        if not ex[k]:
            raise ValueError(f"field {k!r} must be non-empty")
    for k, dtype, ndim in (("image", np.uint8, 3), ("audio", np.float32, 1), ("video", np.uint8, 4)):
        a = ex[k]
        if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim != ndim:
            raise ValueError(f"field {k!r} must be a {ndim}-d {np.dtype(dtype).name} array, got "
                             f"{getattr(a, 'dtype', type(a).__name__)} shape {getattr(a, 'shape', None)}")
        if ndim > 1 and a.shape[-1] != 3:
            raise ValueError(f"field {k!r} must have 3 channels last, got shape {a.shape}")
        if bool(ex[f"has_{k}"]) != (a.size > 0):
            raise ValueError(f"has_{k}={ex[f'has_{k}']} disagrees with {k} shape {a.shape}")
    if ex["has_audio"] and not np.all(np.abs(ex["audio"]) <= 1.0):
        raise ValueError("field 'audio' must lie in [-1, 1]")
    json.loads(ex["label"])


SPLIT_MARKS = ("@train", "@validation")  # an item key ending in one of these names its split deliberately


def split_of(item: str, validation_per_mille: int = 100) -> str:
    """Fixed held-out split: a stable hash of the item key, so all views of one item share a split. A key ending
    in "@train" or "@validation" is in that split (held-out speakers are chosen, not drawn)."""
    for mark in SPLIT_MARKS:
        if item.endswith(mark):
            return mark[1:]
    h = int.from_bytes(hashlib.sha1(item.encode("utf-8")).digest()[:4], "big")
    return "validation" if h % 1000 < validation_per_mille else "train"
