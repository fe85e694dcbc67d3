"""Training data for tokenizers, streamed through grain: corpus (or TFDS, or in-memory) items of one field
-> per-process slice -> shuffle per epoch -> repeat -> random_map(augment/crop) -> batch. A fit holds a
few batches, never a whole split; the iterator's state is saved with every checkpoint (exact resume).

Images are uint8 [H, W, 3], videos uint8 [F, H, W, 3], audio float32 [T], text str; the transforms turn
them into float batches. `synthetic_images` / `synthetic_videos` make shapes for tests.
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import grain
import numpy as np

from omni.data.corpus import open_corpus
from omni.data.token_shards import WeightedRecords
from omni.dataclass_config import option

FIELDS = ("image", "video", "audio", "text")
STATE_FORMAT = "omni-media-stream"


class FieldSource:
    """Random-access view of one field of a corpus / TFDS source of example dicts: item i is the field's
    value, or None when example i has none (dropped downstream). Reads one example per access.

    `index=True` first scans the examples once and keeps the positions of those that have the field
    (int32, 4 bytes per item; no media) and their corpus sources (`sources`, "" where an example names
    none): a corpus where few examples hold the modality then reads only those while training (the built-in
    corpus: ~1 in 4 examples has an image), and `weigh_sources` can weigh them by source."""

    def __init__(self, source, field: str, limit: int | None = None, index: bool = False):
        if field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}; got {field!r}")
        if limit is not None and limit <= 0:
            raise ValueError(f"limit must be > 0, got {limit}")
        self.source, self.field = source, field
        self.size = len(source) if limit is None else min(len(source), int(limit))
        self.positions, self.sources = None, None
        if index:
            keep, sources = [], []
            for i in range(self.size):
                ex = self.source[i]
                if self._value(ex) is not None:
                    keep.append(i)
                    sources.append(str(ex.get("source") or ""))
            self.positions, self.sources, self.size = np.asarray(keep, np.int32), sources, len(keep)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"FieldSource({self.source!r}, {self.field!r}, n={self.size})"

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        return self._value(self.source[int(index) if self.positions is None else int(self.positions[index])])

    def _value(self, ex: dict):
        if self.field == "text":
            return ex.get("text") or None
        present = ex.get(f"has_{self.field}", None)
        value = ex.get(self.field)
        if present is False or value is None or np.asarray(value).size == 0:
            return None
        return value


def source_weights_option() -> Any:
    """The `source_weights` field of a tokenizer's job config (the MoT's is `data.source_weights`)."""
    return option((), "how often the corpus's training items of each source are drawn per epoch, relative to once "
                      "(each corpus example records its source): 0.15 = a fixed random 15% of them, 3 = three "
                      "times, 0 = none; sources not named weigh 1; () = every item once")


def weigh_sources(items: FieldSource, weights: Sequence[tuple[str, float]]) -> WeightedRecords:
    """A view of indexed `items` in which each source's items appear `weights[source]` times per epoch
    (`WeightedRecords`, as the MoT weighs its token shards)."""
    if items.sources is None:
        raise ValueError("weighing items by source needs an indexed FieldSource (index=True)")
    return WeightedRecords(items, items.sources, dict(weights), key=f"source_weights of the {items.field} tokenizer")


def corpus_field(data_dir: str | pathlib.Path, split: str, field: str, limit: int | None = None,
                 index: bool = False, source_weights: Sequence[tuple[str, float]] = ()):
    """The `field` items of one split of the corpus built under `data_dir` (the first `limit` examples);
    `index`: only the examples that have the field (see FieldSource); `source_weights`: each source's
    items that many times per epoch (see `weigh_sources`; implies `index`)."""
    items = FieldSource(open_corpus(data_dir, split), field, limit, index or bool(source_weights))
    return weigh_sources(items, source_weights) if source_weights else items


def first_items(source: Sequence, n: int | None, what: str = "items") -> list:
    """The first `n` present items of `source` (all when n is None: only for small held-out sets)."""
    out = []
    for i in range(len(source)):
        x = source[i]
        if x is not None:
            out.append(x)
        if n is not None and len(out) >= n:
            break
    if not out:
        raise ValueError(f"{source!r} holds no {what}")
    return out


def corpus_media(data_dir: str | pathlib.Path, split: str, field: str, limit: int | None = None):
    """The first `limit` present `field` items of a corpus split: a stacked uint8 array for image/video,
    a list for audio/text (held-out sets and benchmarks; training streams with `MediaStream`)."""
    out = first_items(corpus_field(data_dir, split, field), limit, f"{field} items in the {split!r} split of the "
                                                                   f"corpus at {data_dir}")
    if field in ("image", "video"):
        return np.stack(out).astype(np.uint8)
    return out


class Mixture:
    """Item sequences with sampling weights (a TFDS mixture's fields): `MediaStream` samples them by weight;
    indexing interleaves them round-robin (for held-out sets: `first_items` takes from every part)."""

    def __init__(self, parts: Sequence[tuple[Sequence, float]]):
        self.parts = [(p, float(w)) for p, w in parts if len(p)]
        if not self.parts:
            raise ValueError("a mixture needs at least one non-empty part")

    def __len__(self) -> int:
        return sum(len(p) for p, _ in self.parts)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        sizes = [len(p) for p, _ in self.parts]
        rnd = 0
        while True:  # round rnd visits every part that still has an item rnd
            live = [i for i, n in enumerate(sizes) if n > rnd]
            if index < len(live):
                return self.parts[live[index]][0][rnd]
            index -= len(live)
            rnd += 1

    def __repr__(self) -> str:
        return f"Mixture({[(repr(p), w) for p, w in self.parts]})"


class _RandomMap(grain.transforms.RandomMap):
    """grain RandomMap around `fn(item, rng) -> dict | None` (None, or an absent item, drops it)."""

    def __init__(self, fn: Callable[[Any, np.random.Generator], Any]):
        self.fn = fn

    def random_map(self, item, rng: np.random.Generator):
        return None if item is None else self.fn(item, rng)


class MediaStream:
    """Batches (dicts of numpy arrays [B_local, ...]) of `items` for this process, shuffled and repeated;
    `get_state` / `set_state` (JSON) for checkpoints; the same seed gives the same batches."""

    def __init__(self, items: Sequence, transform: Callable[[Any, np.random.Generator], Any], batch_size: int,
                 *, seed: int, process_index: int = 0, process_count: int = 1, read_threads: int = 2):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        parts = items.parts if isinstance(items, Mixture) else [(items, 1.0)]
        sliced = []
        for part, _ in parts:
            per = len(part) // process_count
            if per == 0:
                raise ValueError(f"{len(part)} items cannot be split over {process_count} processes")
            sliced.append(grain.MapDataset.source(part)[process_index * per:(process_index + 1) * per]
                          .shuffle(seed=seed).repeat())
        ds = sliced[0] if len(sliced) == 1 else grain.MapDataset.mix(sliced, [w for _, w in parts])
        ds = ds.random_map(_RandomMap(transform), seed=seed)
        it = ds.to_iter_dataset(grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=4 * batch_size))
        self._it = iter(it.batch(batch_size, drop_remainder=True))
        self.fingerprint = {"items": len(items), "seed": seed, "process_index": process_index,
                            "process_count": process_count, "batch_size": batch_size}

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._it)

    def get_state(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "fingerprint": self.fingerprint, "pipeline": self._it.get_state(),
                "stats": {}}

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a media stream state: expected format {STATE_FORMAT!r}")
        diff = {k: (state.get("fingerprint", {}).get(k), v) for k, v in self.fingerprint.items()
                if state.get("fingerprint", {}).get(k) != v}
        if diff:
            raise ValueError(f"the saved data state belongs to a different stream; (saved, now) differ in {diff}")
        self._it.set_state(state["pipeline"])

    def close(self) -> None:
        pass


def flip(x: np.ndarray, rng: np.random.Generator, width_axis: int) -> np.ndarray:
    """Left-right flip with probability 1/2."""
    return np.flip(x, axis=width_axis) if rng.random() < 0.5 else x


# the five orders of (R, G, B) other than the identity
_PERMUTATIONS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def permute_channels(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """With probability p, the colour channels (last axis) in one of the five other orders, uniformly."""
    if p <= 0 or rng.random() >= p:
        return x
    return x[..., list(_PERMUTATIONS[rng.integers(len(_PERMUTATIONS))])]


def _draw_shape(canvas: np.ndarray, rng: np.random.Generator, cy: float, cx: float, r: float,
                color: np.ndarray, kind: int) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif kind == 1:
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    else:
        mask = (np.abs(yy - cy) + np.abs(xx - cx)) <= r
    canvas[mask] = color


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """n images uint8 [n, size, size, 3]: a color gradient background with 1-3 flat shapes."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    t = np.linspace(0, 1, size)[None, :, None]
    for i in range(n):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)).copy()
        if rng.random() < 0.5:
            img = img.transpose(1, 0, 2).copy()
        for _ in range(rng.integers(1, 4)):
            _draw_shape(img, rng, rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 8, size / 3),
                        rng.uniform(0, 255, 3), int(rng.integers(0, 3)))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def synthetic_videos(n: int, frames: int = 9, size: int = 32, seed: int = 0) -> np.ndarray:
    """n clips uint8 [n, frames, size, size, 3]: shapes moving at constant velocity over a gradient."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, frames, size, size, 3), np.uint8)
    t = np.linspace(0, 1, size)[None, :, None]
    for i in range(n):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        bg = np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)).copy()
        shapes = [(rng.uniform(0, size, 2), rng.uniform(-1.5, 1.5, 2), rng.uniform(size / 8, size / 4),
                   rng.uniform(0, 255, 3), int(rng.integers(0, 3))) for _ in range(rng.integers(1, 3))]
        for f in range(frames):
            img = bg.copy()
            for pos, vel, r, color, kind in shapes:
                p = pos + vel * f
                _draw_shape(img, rng, p[0], p[1], r, color, kind)
            out[i, f] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 media -> float32 in [0, 1]."""
    return np.asarray(x, np.float32) / 255.0
