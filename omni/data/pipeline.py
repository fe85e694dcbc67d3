"""The grain input pipeline: token shards (or synthetic examples) -> formatted tasks -> packed [B, L] batches.

    records[process slice] -> shuffle(seed) per epoch -> repeat -> random_map(format, seed)
      -> to_iter_dataset (read threads) -> pack into [B_local, L] -> optional worker processes

Deterministic from the seed (formatting randomness comes from the element index, not the order of
work); each JAX process reads a distinct contiguous slice of the records; the iterator's state is a
JSON-able dict saved with the model checkpoint. `device_prefetch` puts batches onto a sharding ahead
of the train step while keeping `get_state()` equal to the state after the last batch handed out.
"""
from __future__ import annotations

import json
import pathlib
import queue
import threading
from typing import Any

import grain
import jax
import numpy as np

from omni.cli import absl_flags_parsed
from omni.config import ConfigError
from omni.data import packing
from omni.data.synthetic import SyntheticSource
from omni.data.tasks import DecodeRecord, FormatExample, Formatter, TaskConfig
from omni.data.token_shards import TokenShardSource, WeightedRecords

STATE_FORMAT = "omni-data-iterator"
STATE_VERSION = 1
SPLITS = ("train", "validation")


# ---- sources -------------------------------------------------------------------------------------

def open_source(cfg, split: str) -> tuple[grain.MapDataset, dict[str, int], dict[str, Any]]:
    """(records as example dicts, fixed token lengths per modality, source description) for `split`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    vocab = cfg.vocab.build()
    if cfg.data.source == "synthetic":
        n = cfg.data.synthetic_examples if split == "train" else max(cfg.data.synthetic_examples // 8, 1)
        src = SyntheticSource(vocab, n, split=split, audio_quantizers=cfg.data.audio_quantizers)
        return grain.MapDataset.source(src), dict(src.fixed_lengths), {"source": "synthetic", "records": n}
    if cfg.data.tfds_mixture:  # token_dir/<name> per dataset, sampled by weight
        parts = [_token_source(cfg, str(pathlib.Path(cfg.data.token_dir) / d.name), split)
                 for d in cfg.data.tfds_mixture]
        lengths = {json.dumps(p[1], sort_keys=True) for p in parts}
        if len(lengths) != 1:
            raise ValueError(f"the token dirs of data.tfds_mixture were made by different tokenizers "
                             f"(fixed lengths {sorted(lengths)}); tokenize them with the same ones")
        ds = grain.MapDataset.mix([p[0] for p in parts], [d.weight for d in cfg.data.tfds_mixture])
        return ds, parts[0][1], {"source": "tokens", "records": len(ds)}
    ds, fixed, n = _token_source(cfg, cfg.data.token_dir, split)
    return ds, fixed, {"source": "tokens", "records": n}


def _token_source(cfg, token_dir: str, split: str) -> tuple[grain.MapDataset, dict[str, int], int]:
    """(decoded records, fixed token lengths, record count) of one token dir, checked against the vocabulary."""
    vocab = cfg.vocab.build()
    src = TokenShardSource(token_dir, split)
    meta = src.meta
    for m, n in meta["codes"].items():
        if m == "audio":
            n = meta["audio"]["codebook_size"] * cfg.data.audio_quantizers
        if m in vocab.modalities and n > vocab.num_codes(m):
            raise ValueError(f"{token_dir} holds {m} ids up to {n - 1} but vocab.{m} is "
                             f"{vocab.num_codes(m)}: set vocab.{m} >= {n}")
    levels = meta["audio"].get("num_quantizers", 0)
    if levels and cfg.data.audio_quantizers > levels:
        raise ValueError(f"data.audio_quantizers={cfg.data.audio_quantizers} but the token shards hold "
                         f"{levels} audio levels")
    if split == "train" and cfg.data.source_weights:
        src = WeightedRecords(src, src.sources(), dict(cfg.data.source_weights))
    ds = grain.MapDataset.source(src).map(DecodeRecord())
    return ds, {k: int(v) for k, v in meta["fixed_lengths"].items()}, len(src)


def check_sources(cfg, splits=("train", "validation")):
    """Opens each split's source once: a missing, incomplete or vocabulary-incompatible token_dir is a
    ConfigError (so a trainer can refuse it before it creates anything)."""
    for split in splits:
        try:
            open_source(cfg, split)
        except ConfigError:
            raise
        except (ValueError, OSError) as e:
            raise ConfigError(f"data.source={cfg.data.source!r}, data.token_dir={cfg.data.token_dir!r}: {e}") from None


# ---- datasets ------------------------------------------------------------------------------------

def local_batch_size(cfg, process_count: int) -> int:
    B = cfg.train.batch_size
    if process_count <= 0 or B % process_count:
        raise ValueError(f"train.batch_size ({B}) must be divisible by the number of processes ({process_count})")
    return B // process_count


def make_dataset(cfg, split: str, *, seed: int, process_index: int = 0, process_count: int = 1,
                 num_workers: int | None = None) -> tuple[grain.IterDataset, dict[str, Any]]:
    """The grain IterDataset of packed batches (with `_stats`) for this process, and its description."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
    records, fixed_lengths, desc = open_source(cfg, split)
    per = len(records) // process_count
    if per == 0:
        raise ValueError(f"{len(records)} {split} records cannot be split over {process_count} processes")
    records = records[process_index * per:(process_index + 1) * per]
    formatter = Formatter(cfg.vocab.build(), TaskConfig.from_config(cfg), fixed_lengths)
    ds = records.shuffle(seed=seed) if cfg.data.shuffle else records
    ds = ds.repeat().random_map(FormatExample(formatter, records), seed=seed)
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=cfg.data.read_threads, prefetch_buffer_size=256))
    B, L = local_batch_size(cfg, process_count), cfg.train.seq_len
    it = packing.PackIterDataset(it, B, L)
    workers = cfg.data.num_workers if num_workers is None else num_workers
    if workers > 0:
        absl_flags_parsed()  # grain worker processes read absl flags
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=2))
    desc = dict(desc, split=split, seed=seed, process_index=process_index, process_count=process_count,
                batch_size=B, seq_len=L, num_workers=workers, records_this_process=per)
    return it, desc


# ---- the iterator the trainer holds ----------------------------------------------------------------

def summarize(totals: dict[str, int]) -> dict[str, float]:
    """Counts + derived figures: padding_fraction (padded positions / all), loss_fraction, skipped."""
    out: dict[str, float] = dict(totals)
    pos = totals.get("positions", 0)
    out["padding_fraction"] = 1.0 - totals.get("tokens", 0) / pos if pos else 0.0
    out["loss_fraction"] = totals.get("loss_tokens", 0) / pos if pos else 0.0
    out["skipped"] = sum(v for k, v in totals.items() if k.startswith("skipped/"))
    return out


class DataIterator:
    """Yields batch dicts (numpy, every array [B_local, L]); `get_state`/`set_state` for checkpoints."""

    _FINGERPRINT = ("split", "seed", "process_index", "process_count", "batch_size", "seq_len", "num_workers",
                    "source", "records")

    def __init__(self, dataset: grain.IterDataset, description: dict[str, Any]):
        self.description = description
        self._it = iter(dataset)
        self._totals = self._zero()

    @staticmethod
    def _zero() -> dict[str, int]:
        return {"batches": 0, "positions": 0, "tokens": 0, "loss_tokens": 0, **{k: 0 for k in packing.STAT_KEYS}}

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = next(self._it)
        for k, v in packing.stats_dict(batch.pop("_stats")).items():
            self._totals[k] += v
        seg = batch["segment_ids"]
        self._totals["batches"] += 1
        self._totals["positions"] += int(seg.size)
        self._totals["tokens"] += int((seg > 0).sum())
        self._totals["loss_tokens"] += int(batch["loss_mask"].sum())
        return batch

    def stats(self) -> dict[str, float]:
        """Running totals since the start of training (restored with the state), incl. padding_fraction."""
        return summarize(self._totals)

    def get_state(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "version": STATE_VERSION,
                "fingerprint": {k: self.description[k] for k in self._FINGERPRINT},
                "pipeline": self._it.get_state(), "stats": dict(self._totals)}

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or \
                state.get("version") != STATE_VERSION:
            raise ValueError(f"not a data iterator state: expected format {STATE_FORMAT!r} version {STATE_VERSION}")
        mine = {k: self.description[k] for k in self._FINGERPRINT}
        theirs = state.get("fingerprint", {})
        diff = {k: (theirs.get(k), mine[k]) for k in mine if theirs.get(k) != mine[k]}
        if diff:
            raise ValueError(f"the saved data state belongs to a different pipeline; (saved, now) differ in {diff}")
        try:
            self._it.set_state(state["pipeline"])
            totals = {**self._zero(), **{k: int(v) for k, v in state["stats"].items()}}
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"the saved data state does not fit this pipeline: {type(e).__name__}: {e}") from None
        self._totals = totals

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def make_iterator(cfg, split: str, *, seed: int, process_index: int | None = None,
                  process_count: int | None = None, num_workers: int | None = None) -> DataIterator:
    """Packed training batches for this JAX process: per-process batch = train.batch_size // process_count.

    `num_workers` overrides data.num_workers (e.g. 0 for a short evaluation iterator).
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    ds, desc = make_dataset(cfg, split, seed=seed, process_index=process_index, process_count=process_count,
                            num_workers=num_workers)
    return DataIterator(ds, desc)


# ---- device prefetch -----------------------------------------------------------------------------

class DevicePrefetch:
    """Moves batches onto `sharding` (one, or a dict per key) `size` batches ahead in a thread.

    Uses `jax.make_array_from_process_local_data`, so each process passes its local [B_local, L] rows
    and gets global [B, L] arrays. `get_state()` is the state after the last batch returned.
    """

    def __init__(self, iterator: DataIterator, sharding, size: int = 2):
        if size <= 0:
            raise ValueError(f"prefetch size must be > 0, got {size}")
        self._it, self._sharding, self._size = iterator, sharding, size
        self._state = iterator.get_state()
        self._start()

    def _start(self):
        self._queue: queue.Queue = queue.Queue(self._size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, daemon=True, name="omni-device-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self):
        try:
            while not self._stop.is_set():
                batch = next(self._it)
                state = self._it.get_state()
                arrays = {k: jax.make_array_from_process_local_data(self._shard(k), v) for k, v in batch.items()}
                if not self._put((arrays, state)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put(e)

    def _shard(self, key):
        return self._sharding[key] if isinstance(self._sharding, dict) else self._sharding

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, jax.Array]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        arrays, self._state = item
        return arrays

    def get_state(self) -> dict[str, Any]:
        return self._state

    def set_state(self, state: dict[str, Any]) -> None:
        self._halt()
        self._it.set_state(state)
        self._state = self._it.get_state()
        self._start()

    def stats(self) -> dict[str, float]:
        return summarize(self._state["stats"])

    def _halt(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def close(self) -> None:
        self._halt()
        self._it.close()


def device_prefetch(iterator: DataIterator, sharding, size: int = 2) -> DevicePrefetch:
    """Batches as global jax.Arrays on `sharding`, `size` ahead (cfg.data.prefetch)."""
    return DevicePrefetch(iterator, sharding, size)
