"""Any TFDS dataset as a corpus: a feature mapping turns its examples into omni's media shapes.

`TfdsSource(name, split, features={"text": "caption", "image": "image"})` reads with
`tfds.data_source` (array_record, no TensorFlow) and returns dicts shaped like `open_corpus`
examples — text str, image uint8 [S, S, 3], audio float32 [T] at 16 kHz, video uint8 [F, s, s, 3],
empty arrays for absent media — so `launch/tokenize_corpus.py` tokenizes either the same way.
Feature paths use "/" for nesting ("captions/text"); a sequence feature contributes its first item;
a ClassLabel contributes its name. Builders whose features need TensorFlow to construct (TFDS's
`Audio`, `Video` and COCO's features) cannot be read without it: `make setup-tensorflow` puts TensorFlow
beside the venv, or store such media as `Tensor` features. TFDS registers a catalog builder only when its
category module is imported (`tensorflow_datasets.video` for ucf101, `.text` for c4, ...), which TFDS
itself does lazily; `data_source` imports them when a name is not yet registered.
"""
from __future__ import annotations

import importlib
from math import gcd
from typing import Any

import numpy as np
from PIL import Image

from omni.data.corpus.spec import MediaSpec

MEDIA = ("text", "image", "audio", "video")
# TFDS's catalog categories (tensorflow_datasets/__init__.py imports them lazily)
CATALOG = ("audio", "graphs", "image", "image_classification", "object_detection", "nearest_neighbors",
           "question_answering", "ranking", "recommendation", "structured", "summarization", "text",
           "text_simplification", "time_series", "translate", "video", "vision_language")


def data_source(name: str, split: str, data_dir: str | None = None):
    """`tfds.data_source`, after registering TFDS's catalog builders if `name` is not registered yet."""
    import tensorflow_datasets as tfds  # optional, heavy: only TFDS-hosted data sets need it
    try:
        tfds.builder_cls(name.split("/")[0].split(":")[0])
    except tfds.core.registered.DatasetNotFoundError:
        for category in CATALOG:
            try:
                importlib.import_module(f"tensorflow_datasets.{category}")
            except ImportError:  # a category whose builders need a package that is not installed
                pass
    return tfds.data_source(name, split=split, data_dir=data_dir)


def _get(example: dict, path: str):
    node: Any = example
    for key in path.split("/"):
        if not isinstance(node, dict) or key not in node:
            have = sorted(node) if isinstance(node, dict) else type(node).__name__
            raise ValueError(f"TFDS feature {path!r} not found at {key!r}; available: {have}")
        node = node[key]
    return node


def _feature(info_features, path: str):
    node = info_features
    for key in path.split("/"):
        try:
            node = node[key]
        except (KeyError, TypeError):
            return None
        node = getattr(node, "feature", node)  # Sequence(...) -> its item feature
    return node


def to_text(value, label_feature=None) -> str:
    if isinstance(value, dict):  # a Sequence of dicts: take the first value
        value = next(iter(value.values()), "")
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        value = value[0] if len(value) else ""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (int, np.integer)) and label_feature is not None and hasattr(label_feature, "int2str"):
        return str(label_feature.int2str(int(value)))
    return str(value)


def _square(img: Image.Image, size: int) -> np.ndarray:
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC), np.uint8)


def to_image(value, size: int) -> np.ndarray:
    """uint8 [H, W, C] (C in 1, 3, 4) -> centre-cropped RGB [size, size, 3]."""
    a = np.asarray(value)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4) or min(a.shape[:2]) == 0:
        raise ValueError(f"an image must be [H, W, 1|3|4], got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.dtype.kind == "f" else 1.0), 0, 255).astype(np.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[a.shape[-1]]
    return _square(Image.fromarray(a[..., 0] if mode == "L" else a, mode), size)


def to_video(value, frames: int, size: int) -> np.ndarray:
    """[T, H, W, C] -> `frames` evenly spaced frames, each [size, size, 3]."""
    a = np.asarray(value)
    if a.ndim != 4 or a.shape[0] == 0:
        raise ValueError(f"a video must be [T, H, W, C] with T > 0, got shape {a.shape}")
    idx = np.linspace(0, a.shape[0] - 1, frames).round().astype(int)
    return np.stack([to_image(a[i], size) for i in idx])


def to_audio(value, sample_rate: int, spec: MediaSpec) -> np.ndarray:
    """int16/int32/float [T] or [T, C] at `sample_rate` -> mono float32 [T'] at spec.sample_rate in [-1, 1]."""
    a = np.asarray(value)
    if a.ndim == 2:
        a = a.mean(axis=1) if a.dtype.kind == "f" else a.astype(np.float64).mean(axis=1).astype(a.dtype)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"audio must be [T] or [T, C] with T > 0, got shape {np.shape(value)}")
    if a.dtype.kind in "iu":
        x = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    else:
        x = a.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError("audio holds NaN or inf")
    if sample_rate != spec.sample_rate:
        from scipy.signal import resample_poly  # heavy: only audio at another sample rate needs it

        g = gcd(int(sample_rate), spec.sample_rate)
        x = resample_poly(x, spec.sample_rate // g, int(sample_rate) // g).astype(np.float32)
    return np.clip(x[:spec.max_audio_samples], -1.0, 1.0)


class TfdsSource:
    """Random-access corpus-like examples from a TFDS dataset split (see module docstring)."""

    def __init__(self, name: str, split: str, features: dict[str, str], *, data_dir: str | None = None,
                 sample_rate: int = 16000, spec: MediaSpec | None = None):
        unknown = set(features) - set(MEDIA)
        if unknown or not features:
            raise ValueError(f"features must map some of {MEDIA} to TFDS feature paths, got {features}")
        self.name, self.split, self.features = name, split, dict(features)
        self.sample_rate, self.spec = int(sample_rate), spec or MediaSpec()
        self._src = data_source(name, split, data_dir or None)
        info = self._src.dataset_info.features
        for m, path in self.features.items():
            if _feature(info, path) is None:
                raise ValueError(f"{name}: no feature {path!r} (mapped to {m}); features: {list(info.keys())}")
        self._label = _feature(info, self.features["text"]) if "text" in self.features else None

    def __len__(self) -> int:
        return len(self._src)

    def __getitem__(self, index: int) -> dict[str, Any]:
        raw = self._src[index]
        s = self.spec
        ex: dict[str, Any] = {"id": f"{self.name}/{self.split}/{index}", "source": f"tfds:{self.name}",
                              "item": str(index), "label": "{}", "text": "",
                              "image": np.zeros((0, 0, 3), np.uint8), "audio": np.zeros(0, np.float32),
                              "video": np.zeros((0, 0, 0, 3), np.uint8)}
        f = self.features
        if "text" in f:
            ex["text"] = to_text(_get(raw, f["text"]), self._label).strip()
        if "image" in f:
            ex["image"] = to_image(_get(raw, f["image"]), s.image_size)
        if "audio" in f:
            ex["audio"] = to_audio(_get(raw, f["audio"]), self.sample_rate, s)
        if "video" in f:
            ex["video"] = to_video(_get(raw, f["video"]), s.video_frames, s.video_size)
        for m in ("image", "audio", "video"):
            ex[f"has_{m}"] = bool(ex[m].size)
        return ex

    def __repr__(self) -> str:
        return f"TfdsSource({self.name!r}, {self.split!r}, n={len(self)})"


def open_tfds(cfg, split: str) -> TfdsSource:
    """The TFDS source a DataConfig names (data.tfds_name / tfds_features / tfds_splits)."""
    d = cfg.data
    splits = dict(d.tfds_splits)
    if split not in splits:
        raise ValueError(f"split {split!r} has no TFDS split in data.tfds_splits={d.tfds_splits}")
    return TfdsSource(d.tfds_name, splits[split], dict(d.tfds_features), data_dir=d.tfds_data_dir or None,
                      sample_rate=d.tfds_sample_rate)


def open_dataset(d, split: str) -> TfdsSource:
    """The TFDS source of one mixture entry (`omni.config.TfdsDatasetConfig`) for omni split `split`."""
    splits = dict(d.splits)
    if split not in splits:
        raise ValueError(f"split {split!r} has no TFDS split in the {d.name} entry's splits={d.splits}")
    return TfdsSource(d.name, splits[split], dict(d.features), data_dir=d.data_dir or None,
                      sample_rate=d.sample_rate)
