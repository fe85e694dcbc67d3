"""Packing: formatted examples -> fixed [B, L] rows with segment ids, per-segment positions, row-unique spans.

First-fit over the B rows of the batch being built: an example goes into the first row with room;
the first example that fits no row closes the batch and opens the next one. `PackIterDataset` is the
grain stage: it drops `Skipped` examples (counting each reason) and emits a batch dict plus a `_stats`
vector of counts since the previous batch (so counts made in worker processes reach the trainer).
"""
from __future__ import annotations

from typing import Any

import grain
import numpy as np

from omni.data.tasks import FAMILIES, SKIP_REASONS, Formatted, Skipped

INT_KEYS = ("inputs", "targets", "input_modality", "target_modality", "span_ids")
BATCH_KEYS = INT_KEYS + ("segment_ids", "positions", "loss_mask")
STAT_KEYS = ("examples", "truncated") + tuple(f"skipped/{r}" for r in SKIP_REASONS) + \
    tuple(f"family/{f}" for f in FAMILIES)
_STAT_INDEX = {k: i for i, k in enumerate(STAT_KEYS)}


class RowPacker:
    """Builds one [B, L] batch; `add` returns False when the example fits in no row."""

    def __init__(self, batch_size: int, seq_len: int):
        self.B, self.L = batch_size, seq_len
        self.batch = {k: np.zeros((batch_size, seq_len), np.float32 if k == "loss_mask" else np.int32)
                      for k in BATCH_KEYS}
        self.fill = np.zeros(batch_size, np.int64)       # tokens used per row
        self.segments = np.zeros(batch_size, np.int64)   # examples per row
        self.spans = np.zeros(batch_size, np.int64)      # span ids used per row
        self.count = 0

    def add(self, arrays: dict[str, np.ndarray]) -> bool:
        n = int(arrays["inputs"].shape[0])
        if not 0 < n <= self.L:
            raise ValueError(f"an example of {n} tokens cannot be packed into rows of {self.L}")
        rows = np.nonzero(self.fill + n <= self.L)[0]
        if rows.size == 0:
            return False
        r, a = int(rows[0]), int(self.fill[rows[0]])
        sl = slice(a, a + n)
        for k in INT_KEYS:
            self.batch[k][r, sl] = arrays[k]
        self.batch["loss_mask"][r, sl] = arrays["loss_mask"]
        span = arrays["span_ids"]
        if span.any():  # renumber so span ids are unique within the row
            self.batch["span_ids"][r, sl] = np.where(span > 0, span + self.spans[r], 0)
            self.spans[r] += int(span.max())
        self.segments[r] += 1
        self.batch["segment_ids"][r, sl] = self.segments[r]
        self.batch["positions"][r, sl] = np.arange(n)
        self.fill[r] += n
        self.count += 1
        return True


class _PackIterator(grain.DatasetIterator):
    """State = the parent's state before the first example not yet in an emitted batch."""

    def __init__(self, parent: grain.DatasetIterator, batch_size: int, seq_len: int):
        super().__init__(parent)
        self._B, self._L = batch_size, seq_len
        self._pending: Formatted | None = None
        self._pending_state = None

    def __next__(self) -> dict[str, Any]:
        packer = RowPacker(self._B, self._L)
        stats = np.zeros(len(STAT_KEYS), np.int64)
        if self._pending is not None:
            self._place(packer, self._pending, stats)
            self._pending, self._pending_state = None, None
        while True:
            state = self._parent.get_state()
            try:
                item = next(self._parent)
            except StopIteration:
                if packer.count == 0:
                    raise
                break
            if isinstance(item, Skipped):
                stats[_STAT_INDEX[f"skipped/{item.reason}"]] += 1
                continue
            if not isinstance(item, Formatted):
                raise TypeError(f"packing expects Formatted examples or Skipped, got {type(item).__name__}")
            if not packer.add(item.arrays):
                self._pending, self._pending_state = item, state
                break
            self._count(item, stats)
        out = dict(packer.batch)
        out["_stats"] = stats
        return out

    def _place(self, packer: RowPacker, item: Formatted, stats: np.ndarray):
        if not packer.add(item.arrays):
            raise ValueError(f"an example of {item.length} tokens does not fit an empty [{self._B}, {self._L}] batch")
        self._count(item, stats)

    @staticmethod
    def _count(item: Formatted, stats: np.ndarray):
        stats[_STAT_INDEX["examples"]] += 1
        stats[_STAT_INDEX["truncated"]] += int(item.truncated)
        stats[_STAT_INDEX[f"family/{item.family}"]] += 1

    def get_state(self) -> dict[str, Any]:
        return {"parent": self._pending_state if self._pending is not None else self._parent.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._parent.set_state(state["parent"])
        self._pending, self._pending_state = None, None


class PackIterDataset(grain.IterDataset):
    """Formatted examples (or Skipped markers) -> packed batch dicts of [B, L] arrays plus `_stats`."""

    def __init__(self, parent: grain.IterDataset, batch_size: int, seq_len: int):
        super().__init__(parent)
        if batch_size <= 0 or seq_len <= 0:
            raise ValueError(f"batch_size and seq_len must be > 0, got {batch_size}, {seq_len}")
        self._B, self._L = batch_size, seq_len

    def __iter__(self) -> _PackIterator:
        return _PackIterator(self._parent.__iter__(), self._B, self._L)

    def __str__(self) -> str:
        return f"PackIterDataset(batch_size={self._B}, seq_len={self._L})"


def stats_dict(vec: np.ndarray) -> dict[str, int]:
    return {k: int(v) for k, v in zip(STAT_KEYS, vec)}


def padding_fraction(batch: dict[str, np.ndarray]) -> float:
    """Fraction of positions in a packed batch that hold no example (segment id 0)."""
    seg = np.asarray(batch["segment_ids"])
    return float((seg == 0).mean())
