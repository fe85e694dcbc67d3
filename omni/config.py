"""Typed dataclass configs: load a config file by path, apply `key=value` overrides, validate.

A config file (`configs/NAME.py`) defines `get_config() -> Config`. Overrides use dotted keys
(`model.d_model=256`, `steps=10`) and are parsed by the field's type; unknown keys and bad values
raise `ConfigError` naming the key and what was expected.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import pathlib
import re
import sys
import traceback
import types
import typing
from typing import Any, Literal

from omni.vocab import UnifiedVocab


class ConfigError(ValueError):
    """A config key or value is not what the config schema expects."""


MESH_AXES = ("data", "fsdp", "tensor")


DEFAULT_TASK_TOKENS: tuple[str, ...] = (
    "<task:lm>", "<task:caption>", "<task:generate>", "<task:transcribe>", "<task:speak>",
    "<task:describe>", "<task:interleaved>",
)


@dataclasses.dataclass(frozen=True)
class VocabConfig:
    """Codes per modality (text: SentencePiece vocabulary size; others: tokenizer codebook)."""

    text: int = 512
    image: int = 256
    audio: int = 256
    video: int = 256
    task_tokens: tuple[str, ...] = DEFAULT_TASK_TOKENS

    def build(self) -> UnifiedVocab:
        return UnifiedVocab.create(
            {"text": self.text, "image": self.image, "audio": self.audio, "video": self.video},
            self.task_tokens,
        )

    def validate(self):
        for k in ("text", "image", "audio", "video"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"vocab.{k} must be > 0, got {getattr(self, k)}")
        missing = [t for t in DEFAULT_TASK_TOKENS if t not in self.task_tokens]
        if missing:
            raise ConfigError(f"vocab.task_tokens must include the task tokens the data pipeline and sampler use, "
                              f"{list(DEFAULT_TASK_TOKENS)}; missing {missing}")
        if len(set(self.task_tokens)) != len(self.task_tokens):
            raise ConfigError(f"vocab.task_tokens has duplicates: {list(self.task_tokens)}")
        bad = [t for t in self.task_tokens if not (t.startswith("<task:") and t.endswith(">"))]
        if bad:
            raise ConfigError(f"vocab.task_tokens must look like '<task:NAME>', got {bad}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    head_dim: int = 16
    d_ff: int = 256
    max_seq_len: int = 128
    # Mixture-of-Transformers: untie each weight family per modality; all False = dense baseline.
    untie_attention: bool = True
    untie_ffn: bool = True
    untie_norms: bool = True
    rope_theta: float = 10000.0
    qk_norm: bool = True
    norm_eps: float = 1e-6
    z_loss: float = 1e-4
    dtype: Literal["float32", "bfloat16"] = "bfloat16"
    param_dtype: Literal["float32", "bfloat16"] = "float32"
    remat: Literal["none", "full", "dots"] = "none"
    scan_layers: bool = True
    attention_impl: Literal["xla", "pallas", "cudnn", "auto"] = "xla"
    # How per-modality matmuls group tokens: `ragged` (lax.ragged_dot, native on TPU/GPU),
    # `tiles` (sort into fixed tiles + batched matmul, fast on CPU), `auto` (by backend).
    grouped_matmul: Literal["auto", "ragged", "tiles"] = "auto"
    tile_size: int = 128
    # Grouped-matmul layouts are built per chunk of the batch's rows: 1 = all B*L tokens together;
    # k = k chunks of B/k rows (gcd(B, k) when k does not divide B). 0 = auto: 1 for the model alone,
    # the number of batch shards when the trainer builds it, so grouping stays local to each device.
    layout_chunks: int = 0
    init_std: float = 0.02

    def validate(self):
        for k in ("d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "max_seq_len",
                  "tile_size"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"model.{k} must be > 0, got {getattr(self, k)}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"model.n_heads ({self.n_heads}) must be a multiple of "
                              f"model.n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ConfigError(f"model.head_dim must be even for RoPE, got {self.head_dim}")
        if self.layout_chunks < 0:
            raise ConfigError(f"model.layout_chunks must be >= 0 (0 = auto), got {self.layout_chunks}")
        for k in ("rope_theta", "norm_eps", "init_std"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"model.{k} must be > 0, got {getattr(self, k)}")
        if self.z_loss < 0:
            raise ConfigError(f"model.z_loss must be >= 0, got {self.z_loss}")

    @property
    def is_dense(self) -> bool:
        return not (self.untie_attention or self.untie_ffn or self.untie_norms)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Mesh axis sizes; exactly one may be -1 (fill with the remaining devices)."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1
    # Use only the first N devices (0 = all): one-process tests and benchmarks on part of a machine.
    devices: int = 0
    # logical axis -> mesh axes (tuple) or None (replicated).
    rules: tuple[tuple[str, Any], ...] = (
        ("batch", ("data", "fsdp")),
        ("embed", "fsdp"),
        ("vocab", "tensor"),
        ("heads", "tensor"),
        ("kv_heads", "tensor"),
        ("mlp", "tensor"),
        ("modality", None),
        ("layers", None),
        ("head_dim", None),
        ("seq", None),
    )

    def validate(self):
        given = f"mesh.data={self.data}, mesh.fsdp={self.fsdp}, mesh.tensor={self.tensor}"
        if sum(s == -1 for s in (self.data, self.fsdp, self.tensor)) > 1:
            raise ConfigError(f"at most one mesh axis may be -1 (fill), got {given}")
        if any(s == 0 or s < -1 for s in (self.data, self.fsdp, self.tensor)):
            raise ConfigError(f"mesh axis sizes must be positive or -1 (fill), got {given}")
        if self.devices < 0:
            raise ConfigError(f"mesh.devices must be >= 0 (0 = all devices), got {self.devices}")
        for name, target in self.rules:
            axes = () if target is None else (target,) if isinstance(target, str) else target
            if not isinstance(axes, (tuple, list)) or any(a not in MESH_AXES for a in axes):
                raise ConfigError(f"mesh.rules: {name!r} maps to {target!r}; expected None, one of {MESH_AXES} "
                                  f"or a list of them")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization, logging and checkpointing of launch/train.py (docs/training.md)."""

    batch_size: int = 8                 # global rows per step (split over processes and grad_accum)
    seq_len: int = 128
    learning_rate: float = 3e-3         # peak
    min_lr_ratio: float = 0.1           # final lr = min_lr_ratio * learning_rate (cosine, linear)
    warmup_steps: int = 10              # linear warmup to the peak
    schedule: Literal["cosine", "constant", "linear"] = "cosine"
    weight_decay: float = 0.1           # AdamW; never on norms or the token embedding
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0              # global-norm clipping; 0 = off
    grad_accum: int = 1                 # micro-batches per step (token-weighted: same update as one batch)
    max_nonfinite_in_a_row: int = 5     # skipped non-finite steps in a row before the run stops
    log_every: int = 10
    eval_every: int = 100               # held-out evaluation period; 0 = never
    eval_batches: int = 4
    keep_checkpoints: int = 3
    async_checkpoints: bool = True
    peak_tflops: float = 0.0            # per-device peak for MFU; 0 = look up the device's known peak

    def validate(self):
        for k in ("batch_size", "seq_len", "grad_accum", "log_every", "keep_checkpoints", "eval_batches",
                  "max_nonfinite_in_a_row"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"train.{k} must be > 0, got {getattr(self, k)}")
        for k in ("warmup_steps", "eval_every", "weight_decay", "grad_clip", "peak_tflops"):
            if getattr(self, k) < 0:
                raise ConfigError(f"train.{k} must be >= 0, got {getattr(self, k)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train.learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        for k in ("b1", "b2"):
            if not 0.0 <= getattr(self, k) < 1.0:
                raise ConfigError(f"train.{k} must be in [0, 1), got {getattr(self, k)}")
        if self.eps <= 0:
            raise ConfigError(f"train.eps must be > 0, got {self.eps}")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"train.batch_size ({self.batch_size}) must be a multiple of train.grad_accum "
                              f"({self.grad_accum})")


@dataclasses.dataclass(frozen=True)
class LoopConfig(TrainConfig):
    """The loop settings of a task whose config nests them in one section (tokenizer jobs): `TrainConfig`
    plus what the MoT `Config` keeps at its top level (`steps`, `checkpoint_every`, `seed`). `seq_len`,
    `grad_accum` and `eval_batches` are the MoT's; tokenizer tasks need grad_accum=1 and ignore the others."""

    steps: int = 1000
    checkpoint_every: int = 200
    seed: int = 0
    b2: float = 0.99
    weight_decay: float = 0.0

    def validate(self):
        super().validate()
        if self.steps <= 0:
            raise ConfigError(f"train.steps must be > 0, got {self.steps}")
        if self.checkpoint_every <= 0:
            raise ConfigError(f"train.checkpoint_every must be > 0, got {self.checkpoint_every}")
        if self.seed < 0:
            raise ConfigError(f"train.seed must be >= 0, got {self.seed}")
        return self


@dataclasses.dataclass(frozen=True)
class TfdsDatasetConfig:
    """One TFDS dataset of a mixture (`data.tfds_mixture`): which features are which modality, its sampling
    weight (tokenizer training and the MoT's task sampling), its splits and audio sample rate."""

    name: str = ""
    weight: float = 1.0
    features: tuple[tuple[str, str], ...] = ()   # (modality, feature path), e.g. ("text", "captions/text")
    splits: tuple[tuple[str, str], ...] = (("train", "train"), ("validation", "validation"))
    sample_rate: int = 16000
    data_dir: str = ""

    def validate(self, where: str = "data.tfds_mixture"):
        if not self.name.strip():
            raise ConfigError(f"{where}.name must name a TFDS dataset, got {self.name!r}")
        if not (self.weight > 0 and self.weight < float("inf")):
            raise ConfigError(f"{where}.weight must be a finite number > 0, got {self.weight}")
        if not self.features:
            raise ConfigError(f"{where}.features must map modalities to feature paths, e.g. [[\"text\",\"caption\"]]")
        for m, _ in self.features:
            if m not in ("text", "image", "audio", "video"):
                raise ConfigError(f"{where}.features: unknown modality {m!r}")
        if self.sample_rate <= 0:
            raise ConfigError(f"{where}.sample_rate must be > 0, got {self.sample_rate}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where training tokens come from and how examples become packed rows (docs/data.md)."""

    # `synthetic`: structured multimodal sequences made in seconds (tests, configs/tiny.py);
    # `tokens`: token shards written by launch/tokenize_corpus.py.
    source: Literal["synthetic", "tokens"] = "synthetic"
    token_dir: str = ""
    # Task mixture (4M-style random choice per example); weights need not sum to 1.
    # Families: any_to_any (conditioning modalities -> one target), single, interleaved.
    mixture: tuple[tuple[str, float], ...] = (
        ("any_to_any", 0.7), ("single", 0.2), ("interleaved", 0.1),
    )
    # How often each modality is chosen as the target (any_to_any) or the modality (single).
    target_weights: tuple[tuple[str, float], ...] = (
        ("text", 1.0), ("image", 1.0), ("audio", 1.0), ("video", 1.0),
    )
    max_inputs: int = 2                 # conditioning modalities per any_to_any example: 1..max_inputs
    interleaved_max_examples: int = 4   # examples per interleaved document
    loss_on_targets_only: bool = True   # False: loss on every sampled, non-leaking token
    bidirectional_conditioning: bool = True  # conditioning media spans get span_ids
    audio_quantizers: int = 2           # residual levels of the audio codes used in sequences
    max_example_tokens: int = 0         # 0 = train.seq_len; longer examples are truncated or skipped
    shuffle: bool = True                # full random-access shuffle, reshuffled every epoch
    num_workers: int = 0                # grain worker processes (0 = in the main process)
    read_threads: int = 2               # grain threads formatting examples ahead (per process/worker)
    prefetch: int = 2                   # batches kept ahead on device by omni.data.pipeline.device_prefetch
    synthetic_examples: int = 4096      # size of the synthetic train split (validation: 1/8)
    # launch/tokenize_corpus.py: the raw corpus (or a TFDS dataset) -> token shards in token_dir.
    corpus_dir: str = "runs/demo/corpus"
    tokenizer_dir: str = "runs/demo/tokenizers"
    tfds_name: str = ""                 # e.g. "ai2dcaption"; set to read a TFDS dataset instead of corpus_dir
    tfds_data_dir: str = ""
    # modality -> feature path in the TFDS example ("caption", "captions/text", "speech").
    tfds_features: tuple[tuple[str, str], ...] = ()
    tfds_splits: tuple[tuple[str, str], ...] = (("train", "train"), ("validation", "validation"))
    tfds_sample_rate: int = 16000       # sample rate of the TFDS audio feature (resampled to 16 kHz)
    # A weighted mixture of TFDS datasets instead of one: tokenized into token_dir/<name>/ each, sampled by
    # weight for the MoT's tasks and for tokenizer training (docs/data.md).
    tfds_mixture: tuple[TfdsDatasetConfig, ...] = ()
    shard_size: int = 1024              # examples per token shard (the unit of resumption)
    tokenize_batch_size: int = 64

    def validate(self):
        if self.source == "tokens" and not self.token_dir:
            raise ConfigError("data.token_dir must be set when data.source='tokens'")
        families = ("any_to_any", "single", "interleaved")
        for name, _ in self.mixture:
            if name not in families:
                raise ConfigError(f"data.mixture: unknown task family {name!r}; expected some of {families}")
        if any(w < 0 for _, w in self.mixture) or not any(w > 0 for _, w in self.mixture):
            raise ConfigError(f"data.mixture weights must be >= 0 with one > 0, got {self.mixture}")
        for name, w in self.target_weights:
            if name not in ("text", "image", "audio", "video"):
                raise ConfigError(f"data.target_weights: unknown modality {name!r}")
            if w < 0:
                raise ConfigError(f"data.target_weights must be >= 0, got {name}={w}")
        if not any(w > 0 for _, w in self.target_weights):
            raise ConfigError(f"data.target_weights need one weight > 0, got {self.target_weights}")
        for k in ("max_inputs", "interleaved_max_examples", "audio_quantizers", "synthetic_examples",
                  "shard_size", "tokenize_batch_size", "read_threads", "tfds_sample_rate"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"data.{k} must be > 0, got {getattr(self, k)}")
        for k in ("max_example_tokens", "num_workers", "prefetch"):
            if getattr(self, k) < 0:
                raise ConfigError(f"data.{k} must be >= 0, got {getattr(self, k)}")
        if self.tfds_name and not self.tfds_features:
            raise ConfigError("data.tfds_features must map modalities to features when data.tfds_name is set, "
                              "e.g. tfds_features='[[\"text\",\"caption\"],[\"image\",\"image\"]]'")
        for m, _ in self.tfds_features:
            if m not in ("text", "image", "audio", "video"):
                raise ConfigError(f"data.tfds_features: unknown modality {m!r}")
        if self.tfds_mixture and self.tfds_name:
            raise ConfigError("data.tfds_mixture and data.tfds_name exclude each other: name one dataset or a mixture")
        names = [d.name for d in self.tfds_mixture]
        for i, d in enumerate(self.tfds_mixture):
            d.validate(f"data.tfds_mixture[{i}]")
        if len(set(names)) != len(names):
            raise ConfigError(f"data.tfds_mixture names must be unique (each gets token_dir/<name>), got {names}")


@dataclasses.dataclass(frozen=True)
class Config:
    name: str = "tiny"
    run_dir: str = "runs/default"
    seed: int = 0
    steps: int = 100
    checkpoint_every: int = 50
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    vocab: VocabConfig = dataclasses.field(default_factory=VocabConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)

    def validate(self) -> Config:
        check_finite(self)
        for f in dataclasses.fields(self):  # each section on its own first, then what spans sections
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v) and hasattr(v, "validate"):
                v.validate()
        if not self.run_dir.strip():
            raise ConfigError("run_dir must name a directory, got an empty string")
        if not 0 <= self.seed < 2**31:
            raise ConfigError(f"seed must be in [0, 2**31), got {self.seed}")
        if self.steps < 0:
            raise ConfigError(f"steps must be >= 0, got {self.steps}")
        if self.checkpoint_every <= 0:
            raise ConfigError(f"checkpoint_every must be > 0, got {self.checkpoint_every}")
        if self.train.seq_len > self.model.max_seq_len:
            raise ConfigError(f"train.seq_len ({self.train.seq_len}) exceeds model.max_seq_len "
                              f"({self.model.max_seq_len})")
        if self.data.max_example_tokens > self.train.seq_len:
            raise ConfigError(f"data.max_example_tokens ({self.data.max_example_tokens}) must be <= train.seq_len "
                              f"({self.train.seq_len}): an example has to fit in one packed row")
        if self.data.source == "synthetic" and self.vocab.audio < 2 * self.data.audio_quantizers:
            raise ConfigError(f"vocab.audio ({self.vocab.audio}) must hold >= 2 codes for each of the "
                              f"data.audio_quantizers ({self.data.audio_quantizers}) levels of the synthetic data")
        return self


# ---------------------------------------------------------------------------------------------
# Generic machinery: overrides, dict round trip, loading by path.

def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _finite(val: float, key: str, given: Any) -> float:
    if not math.isfinite(val):
        raise ConfigError(f"{key}: expected a finite number, got {given!r}")
    return val


def check_finite(cfg, prefix: str = ""):
    """Every float of a dataclass config (nested sections and tuples included) must be finite: NaN or inf
    set in a config file is refused like one given as an override."""
    def walk(v, key):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name), f"{key}.{f.name}" if key else f.name)
        elif isinstance(v, (tuple, list)):
            for i, x in enumerate(v):
                walk(x, f"{key}[{i}]")
        elif isinstance(v, float):
            _finite(v, key, v)
    walk(cfg, prefix)


def _parse_value(text: str, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _parse_value(text, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: cannot parse {text!r} as {tp}")
    if origin is Literal:
        if text not in [str(a) for a in args]:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {text!r}")
        return next(a for a in args if str(a) == text)
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected a boolean (true/false), got {text!r}")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {text!r}") from None
    if tp is float:
        try:
            val = float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}") from None
        return _finite(val, key, text)
    if tp is str:
        return text
    if origin is tuple:
        try:
            val = json.loads(text)
        except json.JSONDecodeError:  # comma form: a,b,c -> each item parsed by its own type
            items = [t.strip() for t in text.split(",") if t.strip() != ""]
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_parse_value(t, args[0], f"{key}[{i}]") for i, t in enumerate(items))
            if args and len(args) == len(items):
                return tuple(_parse_value(t, a, f"{key}[{i}]") for i, (t, a) in enumerate(zip(args, items)))
            val = items
        return _coerce(val, tp, key)
    if tp is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    raise ConfigError(f"{key}: overrides of type {tp} are not supported")


def _coerce(val: Any, tp: Any, key: str) -> Any:
    """Coerces a JSON-like value into `tp` (used for overrides and for config.json round trips)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(val, dict):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {type(val).__name__}")
        return from_dict(tp, val, prefix=key + "." if key else "")
    if origin in (typing.Union, types.UnionType):
        if val is None and type(None) in args:
            return None
        errs = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(val, a, key)
            except ConfigError as e:
                errs.append(str(e))
        raise ConfigError(f"{key}: {val!r} matches none of {tp}")
    if origin is Literal:
        if val not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {val!r}")
        return val
    if origin is tuple:
        if isinstance(val, str):
            return _parse_value(val, tp, key)
        if not isinstance(val, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {val!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(val))
        if args and len(args) != len(val):
            raise ConfigError(f"{key}: expected {len(args)} items, got {len(val)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, val))) if args \
            else tuple(val)
    if tp is Any:
        return tuple(val) if isinstance(val, list) else val
    if tp is bool:
        if not isinstance(val, bool):
            raise ConfigError(f"{key}: expected a boolean, got {val!r}")
        return val
    if tp is int:
        if isinstance(val, bool) or not isinstance(val, int):
            raise ConfigError(f"{key}: expected an integer, got {val!r}")
        return val
    if tp is float:
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {val!r}")
        return _finite(float(val), key, val)
    if tp is str:
        if not isinstance(val, str):
            raise ConfigError(f"{key}: expected a string, got {val!r}")
        return val
    return val


def to_dict(cfg) -> dict:
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def from_dict(cls, d: dict, prefix: str = ""):
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + k for k in unknown]}; "
                          f"valid keys under {prefix or 'the top level'}: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in d.items()}
    return cls(**kwargs)


def _set_path(obj, parts: list[str], text: str, key: str):
    """Returns a copy of dataclass `obj` with the dotted path `parts` set from `text`."""
    p = parts[0]
    names = [f.name for f in dataclasses.fields(obj)]
    if p not in names:
        where = key[: len(key) - len(".".join(parts))].rstrip(".") or "the top level"
        raise ConfigError(f"unknown config key {key!r}: {p!r} is not one of {names} under {where}")
    tp = _hints(type(obj))[p]
    if len(parts) == 1:
        if dataclasses.is_dataclass(tp):
            sub = [f.name for f in dataclasses.fields(tp)]
            raise ConfigError(f"{key} is a section; set one of its keys, e.g. {key}.{sub[0]}")
        return dataclasses.replace(obj, **{p: _parse_value(text.strip(), tp, key)})
    child = getattr(obj, p)
    if not dataclasses.is_dataclass(child):
        raise ConfigError(f"{p!r} is not a config section; cannot set {key}")
    return dataclasses.replace(obj, **{p: _set_path(child, parts[1:], text, key)})


def apply_overrides(cfg, overrides) -> Any:
    """Returns a copy of `cfg` with each `a.b.c=value` applied; validates the result."""
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} must look like key=value (e.g. model.d_model=256)")
        key, text = ov.split("=", 1)
        key = key.strip()
        cfg = _set_path(cfg, key.split("."), text, key)
    check_finite(cfg)
    validate_tree(cfg)
    return cfg


def validate_tree(cfg, prefix: str = ""):
    """Runs `validate()` of every nested section (deepest first), then of `cfg`. A section's error that does
    not name its keys gets them: `model.kernel: ...` (the first field it mentions) or `model: ...`."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            validate_tree(v, f"{prefix}{f.name}.")
    if not hasattr(cfg, "validate"):
        return
    try:
        cfg.validate()
    except ValueError as e:
        msg = str(e)
        if not prefix or prefix in msg:
            if isinstance(e, ConfigError):
                raise
            key = _first_field(msg, cfg)
            raise ConfigError(f"{key}: {msg}" if key and not msg.startswith(key) else msg) from None
        key = _first_field(msg, cfg)
        raise ConfigError(f"{prefix}{key}: {msg}" if key else f"{prefix.rstrip('.')}: {msg}") from None


def _first_field(msg: str, cfg) -> str | None:
    """The field of `cfg` whose name occurs first in `msg` as a word (None if none does)."""
    hits = [(m.start(), f.name) for f in dataclasses.fields(cfg)
            for m in [re.search(rf"(?<![\w.]){re.escape(f.name)}(?!\w)", msg)] if m]
    return min(hits)[1] if hits else None


CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


def load_config(path_or_name: str, overrides=()) -> Config:
    """Loads `configs/NAME.py` (a path or a bare name) via its `get_config()` and applies overrides."""
    p = pathlib.Path(path_or_name)
    if not p.exists():
        cand = CONFIG_DIR / (path_or_name if path_or_name.endswith(".py") else path_or_name + ".py")
        if not cand.exists():
            avail = sorted(x.stem for x in CONFIG_DIR.glob("*.py") if not x.stem.startswith("_"))
            raise ConfigError(f"config {path_or_name!r} not found (as a path or under {CONFIG_DIR}); "
                              f"available: {avail}")
        p = cand
    module = exec_config_file(p, "omni_config")
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{p} must define get_config() -> omni.config.Config")
    cfg = call_config_file(p, module.get_config)
    if not isinstance(cfg, Config):
        raise ConfigError(f"{p}: get_config() must return an omni.config.Config, got {type(cfg).__name__}")
    return apply_overrides(cfg, list(overrides))


def cli_load_config(path_or_name: str, overrides=()) -> Config:
    """`load_config` for entry points: a bad config prints one `config error: ...` line and exits 2."""
    try:
        return load_config(path_or_name, overrides)
    except ConfigError as e:
        exit_config_error(e)


def exit_config_error(e: Exception) -> typing.NoReturn:
    print(f"config error: {e}", file=sys.stderr)
    raise SystemExit(2)


def exec_config_file(path: pathlib.Path, prefix: str) -> types.ModuleType:
    """Runs a Python config file as a module; a file that does not run is a ConfigError naming file and line."""
    path = pathlib.Path(path)
    try:
        spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: syntax error in the config file: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 -- whatever a config file raises, it is a bad config file
        raise ConfigError(f"{path} fails to load: {_where(e, path)}{type(e).__name__}: {e}") from None
    return module


def call_config_file(path: pathlib.Path, fn, *args):
    """Calls a config file's get_config(...); what it raises is a ConfigError naming the file."""
    try:
        return fn(*args)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"{path}: get_config() fails: {_where(e, path)}{type(e).__name__}: {e}") from None


def _where(e: BaseException, path: pathlib.Path) -> str:
    """`line N: ` of the innermost traceback frame inside `path` (empty if none)."""
    here = path.resolve()
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if pathlib.Path(f.filename).resolve() == here]
    return f"line {lines[-1]}: " if lines else ""


def config_from_json(text: str) -> Config:
    return from_dict(Config, json.loads(text)).validate()


def config_to_json(cfg: Config) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
