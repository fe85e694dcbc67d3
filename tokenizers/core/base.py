"""The tokenizer contract shared by every modality, plus save/load and input-validation helpers.

A tokenizer maps a batch of media to int32 ids in [0, vocab_size) and back. Weights are stored as
safetensors and hyper-parameters as config.json (with a "kind" naming the class); never pickle.
"""
from __future__ import annotations

import abc
import dataclasses
import json
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec
from safetensors.numpy import load_file, save_file

from omni import modality as mod
from omni.config import from_dict, to_dict

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
MODALITIES = mod.names()  # omni.modality is the one list


class Tokenizer(abc.ABC):
    """One discrete tokenizer: `encode(batch) -> int32 ids`, `decode(ids) -> media`."""

    kind: str = ""          # the config.json "kind" this class saves and loads (registry key)
    modality: str = ""      # "text" | "image" | "audio" | "video"
    vocab_size: int = 0     # local codes; ids lie in [0, vocab_size)

    @abc.abstractmethod
    def encode(self, batch) -> Any:
        """Media batch -> int32 ids (see the modality's module for layouts)."""

    @abc.abstractmethod
    def decode(self, ids) -> Any:
        """int32 ids -> media batch (inverse of `encode` up to reconstruction error)."""

    @abc.abstractmethod
    def tokens_per_item(self, shape: Sequence[int]) -> int:
        """Number of tokens for one item of `shape` (no batch axis; text: (num_bytes,) upper bound)."""

    @abc.abstractmethod
    def save(self, directory: str | pathlib.Path) -> None:
        """Writes config.json (+ weights) into `directory`."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: str | pathlib.Path) -> Tokenizer:
        """Reads a tokenizer written by `save`."""

    def bits_per_item(self, shape: Sequence[int]) -> float:
        """Information capacity of one item's tokens: tokens * log2(vocab_size)."""
        return self.tokens_per_item(shape) * math.log2(self.vocab_size)


# ---------------------------------------------------------------------------------------------
# config.json

def write_config(directory: str | pathlib.Path, kind: str, modality: str, config: Any,
                 **extra: Any) -> pathlib.Path:
    """Writes config.json with kind, format version, modality and the (dataclass) config."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = config
    if dataclasses.is_dataclass(config):
        cfg = to_dict(config)
    payload = {"kind": kind, "format_version": FORMAT_VERSION, "modality": modality, "config": cfg}
    payload.update(extra)
    path = d / CONFIG_FILE
    path.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return path


def read_config(directory: str | pathlib.Path, kind: str | None = None) -> dict:
    """Reads config.json; checks the format version and (if given) the expected kind."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"no tokenizer at {directory}: expected a {CONFIG_FILE} written by save()")
    payload = json.loads(path.read_text())
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ValueError(f"{path} is not a tokenizer config: expected a JSON object with a 'kind'")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    if kind is not None and payload["kind"] != kind:
        raise ValueError(f"{path}: holds a {payload['kind']!r} tokenizer, expected {kind!r}")
    return payload


def config_from_payload(cls, payload: dict):
    """Builds the typed dataclass config `cls` from a read_config() payload."""
    return from_dict(cls, payload["config"])


# ---------------------------------------------------------------------------------------------
# NNX module state <-> safetensors

def _key(path: tuple) -> str:
    return "/".join(str(p) for p in path)


def init_module(factory: Callable[[nnx.Rngs], nnx.Module], seed: int = 0) -> nnx.Module:
    """Builds `factory(rngs)` in one jitted program with the cheap 'rbg' PRNG (eager per-op init of a
    conv net costs seconds of compiles; this is ~3x cheaper)."""
    key = jax.random.key(int(seed), impl="rbg")
    return nnx.jit(lambda: factory(nnx.Rngs(key)))()


def abstract_module(factory: Callable[[nnx.Rngs], nnx.Module]) -> nnx.Module:
    """`factory`'s module with shape-only variables (no compute), to be filled by `load_module`."""
    return nnx.eval_shape(lambda: factory(nnx.Rngs(0)))


def module_arrays(module: nnx.Module) -> dict[str, np.ndarray]:
    """Every non-RNG variable of `module` as {"a/0/kernel": array}."""
    flat = nnx.to_flat_state(nnx.state(module, nnx.Not(nnx.RngState)))
    return {_key(p): np.asarray(jax.device_get(v.get_value())) for p, v in flat}


def save_module(module: nnx.Module, directory: str | pathlib.Path, filename: str = WEIGHTS_FILE) -> None:
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in module_arrays(module).items()}, str(d / filename))


def load_module(module: nnx.Module, directory: str | pathlib.Path, filename: str = WEIGHTS_FILE) -> None:
    """Loads weights saved by `save_module` into a freshly built `module` (same config), in place."""
    path = pathlib.Path(directory) / filename
    if not path.is_file():
        raise ValueError(f"missing weights: expected {path}")
    arrays = load_file(str(path))
    state = nnx.state(module, nnx.Not(nnx.RngState))
    flat = nnx.to_flat_state(state)
    expected = {_key(p) for p, _ in flat}
    if set(arrays) != expected:
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        raise ValueError(f"{path} does not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
    for p, v in flat:
        a, want = arrays[_key(p)], v.get_value()
        if tuple(a.shape) != tuple(want.shape):
            raise ValueError(f"{path}: {_key(p)} has shape {a.shape}, model expects {tuple(want.shape)}")
        v.set_value(jax.numpy.asarray(a, dtype=want.dtype))
    nnx.update(module, nnx.from_flat_state(flat))


# ---------------------------------------------------------------------------------------------
# shardings of encode programs (tokenization over a process's devices, ahead-of-time plans)

def replicated(mesh):
    return NamedSharding(mesh, PartitionSpec())


def batch_split(mesh):
    """The leading (batch) axis split over every axis of `mesh`."""
    return NamedSharding(mesh, PartitionSpec(tuple(mesh.axis_names)))


# ---------------------------------------------------------------------------------------------
# input validation (all raise ValueError naming what was expected)

def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_rank(x, ndim: int, name: str, layout: str) -> None:
    if getattr(x, "ndim", None) != ndim:
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{name} must have rank {ndim} ({layout}), got shape {got}")


def check_float(x, name: str) -> None:
    dt = np.dtype(getattr(x, "dtype", np.float64))
    if not (np.issubdtype(dt, np.floating) or dt == jax.numpy.bfloat16):
        raise ValueError(f"{name} must be a float array with values in [0, 1], got dtype {dt} "
                         f"(convert uint8 with x.astype(np.float32) / 255)")


def check_range(x, lo: float, hi: float, name: str) -> None:
    if not _concrete(x) or x.size == 0:
        return
    xmin, xmax = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(xmin) and np.isfinite(xmax)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    if xmin < lo or xmax > hi:
        raise ValueError(f"{name} values must lie in [{lo}, {hi}], got [{xmin:.4g}, {xmax:.4g}]")


def check_nonempty(x, name: str) -> None:
    shape = getattr(x, "shape", None)
    n = int(np.prod(shape)) if shape is not None else len(x)
    if n == 0:
        raise ValueError(f"{name} is empty (shape {shape}); expected at least one item")


def check_dim(x, axis: int, expected: int, name: str, what: str) -> None:
    if x.shape[axis] != expected:
        raise ValueError(f"{name} must have {expected} {what} (axis {axis}), got shape {tuple(x.shape)}")


def check_multiple(value: int, factor: int, name: str) -> None:
    if value <= 0 or value % factor:
        raise ValueError(f"{name} must be a positive multiple of {factor}, got {value}")


def check_max(value: int, limit: int, name: str) -> None:
    if value > limit:
        raise ValueError(f"{name} is too long: {value} > the maximum {limit}")


def check_media(x, name: str, layout: str, channels: int | None = 3) -> Any:
    """Float media [..., C] in [0, 1]: rank from `layout` ("B,H,W,3"), dtype, channels, range, empty."""
    ndim = len(layout.split(","))
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    check_rank(x, ndim, name, f"[{layout}]")
    check_float(x, name)
    check_nonempty(x, name)
    if channels is not None:
        check_dim(x, -1 % ndim, channels, name, "channels")
    check_range(x, 0.0, 1.0, name)
    return x


def check_ids(ids, vocab_size: int, name: str, ndim: int | None = None, length: int | None = None):
    """int ids in [0, vocab_size) with optional rank and last-axis length."""
    if not hasattr(ids, "shape"):
        ids = np.asarray(ids)
    if ndim is not None:
        check_rank(ids, ndim, name, "[B, tokens]" if ndim == 2 else f"rank {ndim}")
    if not np.issubdtype(np.dtype(ids.dtype), np.integer):
        raise ValueError(f"{name} must be integer token ids, got dtype {ids.dtype}")
    check_nonempty(ids, name)
    if length is not None and ids.shape[-1] != length:
        raise ValueError(f"{name} must have {length} tokens per item, got shape {tuple(ids.shape)}")
    if _concrete(ids):
        lo, hi = int(np.min(ids)), int(np.max(ids))
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} must lie in [0, {vocab_size}), got range [{lo}, {hi}]")
    return ids


def check_sample_rate(sample_rate: int, expected: int, resample: bool, name: str = "audio") -> bool:
    """True if `name` must be resampled; raises unless it is at `expected` Hz or resampling was asked."""
    if int(sample_rate) <= 0:
        raise ValueError(f"{name} sample rate must be a positive integer in Hz, got {sample_rate}")
    if int(sample_rate) == expected:
        return False
    if not resample:
        raise ValueError(f"{name} is at {sample_rate} Hz but the tokenizer expects {expected} Hz; "
                         f"pass resample=True to resample it")
    return True
