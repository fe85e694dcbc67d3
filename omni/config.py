"""Typed dataclass configs: load a config file by path, apply `key=value` overrides, validate.

A config file (`configs/NAME.py`) defines `get_config() -> Config`. Overrides use dotted keys
(`model.d_model=256`, `steps=10`) and are parsed by the field's type; unknown keys and bad values
raise `ConfigError` naming the key and what was expected.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Literal

from omni import modality as mod
from omni.dataclass_config import (  # noqa: F401  (re-exported: the config API of omni)
    ConfigError,
    apply_overrides,
    call_config_file,
    check_finite,
    exec_config_file,
    exit_config_error,
    from_dict,
    option,
    to_dict,
    validate_tree,
)
from omni.vocab import UnifiedVocab

MESH_AXES = ("data", "fsdp", "tensor")

# The task tokens the data pipeline (omni/data/tasks.py) and the sampler emit, and the task families of
# `data.mixture`: defined once here; omni/data/tasks.py imports them.
DEFAULT_TASK_TOKENS: tuple[str, ...] = (
    "<task:lm>", "<task:caption>", "<task:generate>", "<task:transcribe>", "<task:speak>",
    "<task:describe>", "<task:interleaved>",
)
TASK_FAMILIES: tuple[str, ...] = ("any_to_any", "single", "interleaved")


class _VocabSchema:
    """Codes per modality (text: SentencePiece vocabulary size; others: tokenizer codebook), one field per
    modality of `omni.modality` (`vocab.text`, `vocab.image`, ...), plus the named task tokens."""

    def codes(self) -> dict[str, int]:
        return {m: getattr(self, m) for m in mod.names()}

    def build(self) -> UnifiedVocab:
        return UnifiedVocab.create(self.codes(), self.task_tokens)

    def validate(self):
        for k, n in self.codes().items():
            if n <= 0:
                raise ConfigError(f"vocab.{k} must be > 0, got {n}")
        missing = [t for t in DEFAULT_TASK_TOKENS if t not in self.task_tokens]
        if missing:
            raise ConfigError(f"vocab.task_tokens must include the task tokens the data pipeline and sampler use, "
                              f"{list(DEFAULT_TASK_TOKENS)}; missing {missing}")
        if len(set(self.task_tokens)) != len(self.task_tokens):
            raise ConfigError(f"vocab.task_tokens has duplicates: {list(self.task_tokens)}")
        bad = [t for t in self.task_tokens if not (t.startswith("<task:") and t.endswith(">"))]
        if bad:
            raise ConfigError(f"vocab.task_tokens must look like '<task:NAME>', got {bad}")


# Built from the modality registry, so registering a modality adds its `vocab.<name>` key.
VocabConfig = dataclasses.make_dataclass(
    "VocabConfig",
    [(m, int, option(mod.default_codes(m), mod.MODALITIES.meta(m)["help"])) for m in mod.names()]
    + [("task_tokens", tuple[str, ...], option(DEFAULT_TASK_TOKENS, "named special tokens '<task:NAME>' (the "
                                                "pipeline's and sampler's must be among them)"))],
    bases=(_VocabSchema,), frozen=True, namespace={"__doc__": _VocabSchema.__doc__, "__module__": __name__})


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The MoT's shape and numerics (docs/model.md)."""

    d_model: int = option(64, "residual stream width")
    n_layers: int = option(2, "transformer blocks")
    n_heads: int = option(4, "query heads")
    n_kv_heads: int = option(2, "key/value heads (grouped-query attention; divides n_heads)")
    head_dim: int = option(16, "width of one attention head (even: RoPE)")
    d_ff: int = option(256, "hidden width of the SwiGLU feed-forward")
    max_seq_len: int = option(128, "longest sequence the model accepts (RoPE tables, KV cache)")
    untie_attention: bool = option(True, "Mixture-of-Transformers: attention projections per modality")
    untie_ffn: bool = option(True, "Mixture-of-Transformers: feed-forward weights per modality")
    untie_norms: bool = option(True, "Mixture-of-Transformers: norms per modality (all three False = dense)")
    rope_theta: float = option(10000.0, "RoPE base frequency")
    qk_norm: bool = option(True, "RMS-normalise queries and keys per head")
    norm_eps: float = option(1e-6, "RMSNorm epsilon")
    z_loss: float = option(1e-4, "weight of the logit z-loss (log-partition squared)")
    dtype: Literal["float32", "bfloat16"] = option("bfloat16", "activation and matmul dtype")
    param_dtype: Literal["float32", "bfloat16"] = option("float32", "dtype the weights are stored in")
    remat: Literal["none", "full", "dots"] = option("none", "activation rematerialisation per block")
    scan_layers: bool = option(True, "lax.scan over the blocks (one compiled block)")
    attention_impl: Literal["xla", "pallas", "cudnn", "auto"] = option(
        "xla", "attention implementation (auto: the best the target backend has; docs/attention.md)")
    grouped_matmul: Literal["auto", "ragged", "tiles"] = option(
        "auto", "how per-modality matmuls group tokens: ragged (lax.ragged_dot, native on TPU/GPU), tiles (sorted "
                "into fixed tiles + batched matmul, fast on CPU), auto (by backend)")
    tile_size: int = option(128, "tokens per tile of the `tiles` grouped matmul")
    layout_chunks: int = option(
        0, "grouped-matmul layouts are built per chunk of the batch's rows: 1 = all B*L tokens together, k = k "
           "chunks of B/k rows (gcd(B, k) when k does not divide B), 0 = auto (1 for the model alone, the number "
           "of batch shards in the trainer, so grouping stays local to each device)")
    init_std: float = option(0.02, "standard deviation of the weight initialisation")
    logits_chunk: int = option(
        0, "the training loss computes logits this many positions of each sequence at a time, recomputing them in "
           "the backward pass, so the [batch, seq, vocab] fp32 logits never exist at once (0 = all at once)")
    grouped_head: bool = option(
        False, "the training loss computes each position's logits on its target modality's slice of the vocabulary "
               "only (positions grouped by target modality like the MoT's matmuls, slices padded to the widest), "
               "not on the whole vocabulary then masked; same loss, fewer head FLOPs (docs/training.md)")
    head_tile_size: int = option(
        256, "tokens per tile of the grouped head in `tiles` mode (each tile copies a [d_model, widest slice] "
             "weight, so it pays to be larger than the blocks' tile_size)")
    code_levels: tuple[tuple[str, tuple[int, ...]], ...] = option(
        (), "FSQ levels of a modality's codes, e.g. [[\"image\", [8, 8, 8, 8]]]: a code id is read as its quantizer "
            "digits (first level fastest) and its input embedding and output vector each gain one shared learned "
            "vector per digit value, so codes that share digits share what is learned about them (docs/model.md, "
            "\"Code digits\"); the product of a modality's levels must be its vocabulary size")

    def validate(self):
        for k in ("d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "max_seq_len",
                  "tile_size", "head_tile_size"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"model.{k} must be > 0, got {getattr(self, k)}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"model.n_heads ({self.n_heads}) must be a multiple of "
                              f"model.n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ConfigError(f"model.head_dim must be even for RoPE, got {self.head_dim}")
        if self.logits_chunk < 0:
            raise ConfigError(f"model.logits_chunk must be >= 0 (0 = all positions at once), got {self.logits_chunk}")
        if self.layout_chunks < 0:
            raise ConfigError(f"model.layout_chunks must be >= 0 (0 = auto), got {self.layout_chunks}")
        for k in ("rope_theta", "norm_eps", "init_std"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"model.{k} must be > 0, got {getattr(self, k)}")
        if self.z_loss < 0:
            raise ConfigError(f"model.z_loss must be >= 0, got {self.z_loss}")
        seen = set()
        for name, levels in self.code_levels:
            if name not in mod.names() or name == "text" or name in seen:
                raise ConfigError(f"model.code_levels: expected distinct media modalities of {mod.names()[1:]}, "
                                  f"got {name!r}")
            seen.add(name)
            if not levels or any(not isinstance(v, int) or v < 2 for v in levels):
                raise ConfigError(f"model.code_levels[{name!r}]: expected a tuple of FSQ levels >= 2, got {levels!r}")

    @property
    def is_dense(self) -> bool:
        return not (self.untie_attention or self.untie_ffn or self.untie_norms)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Mesh axis sizes; exactly one may be -1 (fill with the remaining devices)."""

    data: int = option(-1, "data-parallel axis size (-1: the devices left)")
    fsdp: int = option(1, "fully-sharded data-parallel axis size: weights and optimizer state sharded")
    tensor: int = option(1, "tensor-parallel axis size: heads and feed-forward hidden split")
    devices: int = option(0, "use only the first N devices (0 = all): one-process tests and benchmarks")
    rules: tuple[tuple[str, Any], ...] = option((
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
    ), "logical axis -> mesh axis, list of mesh axes, or None (replicated)")

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

    batch_size: int = option(8, "global rows per step (split over processes and grad_accum)")
    seq_len: int = option(128, "tokens per packed row")
    learning_rate: float = option(3e-3, "peak learning rate")
    min_lr_ratio: float = option(0.1, "final lr = min_lr_ratio * learning_rate (cosine, linear)")
    warmup_steps: int = option(10, "linear warmup steps to the peak")
    schedule: Literal["cosine", "constant", "linear"] = option("cosine", "learning-rate decay after warmup")
    weight_decay: float = option(0.1, "AdamW decoupled weight decay; never on norms or the token embedding")
    b1: float = option(0.9, "AdamW first-moment decay")
    b2: float = option(0.95, "AdamW second-moment decay")
    eps: float = option(1e-8, "AdamW epsilon")
    grad_clip: float = option(1.0, "global-norm gradient clipping; 0 = off")
    grad_accum: int = option(1, "micro-batches per step (token-weighted: the same update as one batch)")
    max_nonfinite_in_a_row: int = option(5, "skipped non-finite steps in a row before the run stops")
    log_every: int = option(10, "steps between metrics rows")
    eval_every: int = option(100, "steps between held-out evaluations; 0 = never")
    eval_batches: int = option(4, "held-out batches per evaluation")
    keep_checkpoints: int = option(3, "checkpoints kept (older ones deleted)")
    async_checkpoints: bool = option(True, "write checkpoints in the background")
    peak_tflops: float = option(0.0, "per-device peak TFLOP/s for MFU; 0 = the device's known peak")
    loss_weights: tuple[tuple[str, float], ...] = option(
        (), "the training objective's weight per target modality, relative to 1 (text=4: every text target token "
            "counts four times, e.g. captions beside hundreds of media tokens); modalities not named weigh 1; "
            "held-out losses and the logged nll stay unweighted")

    def validate(self):
        names = [n for n, _ in self.loss_weights]
        if len(set(names)) != len(names) or not set(names) <= set(mod.names()):
            raise ConfigError(f"train.loss_weights name each modality of {mod.names()} at most once, got {names}")
        for name, w in self.loss_weights:
            if not (w > 0 and math.isfinite(w)):
                raise ConfigError(f"train.loss_weights must be finite and > 0, got {name}={w}")
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
    `grad_accum`, `eval_batches` and `loss_weights` are the MoT's; tokenizer tasks need grad_accum=1 and ignore the
    others."""

    steps: int = option(1000, "optimizer steps of the run")
    checkpoint_every: int = option(200, "steps between checkpoints")
    seed: int = option(0, "seed of initialisation and data order")
    b2: float = option(0.99, "AdamW second-moment decay")
    weight_decay: float = option(0.0, "AdamW decoupled weight decay")

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

    name: str = option("", "TFDS dataset name, e.g. coco_captions (a config or version may follow: name/config:1.0.0)")
    weight: float = option(1.0, "sampling weight in the mixture (tokenizer training and the MoT's tasks)")
    features: tuple[tuple[str, str], ...] = option(
        (), "(modality, feature path) pairs, e.g. [[\"text\", \"captions/text\"], [\"image\", \"image\"]]")
    splits: tuple[tuple[str, str], ...] = option(
        (("train", "train"), ("validation", "validation")), "(omni split, TFDS split) pairs")
    sample_rate: int = option(16000, "sample rate of the dataset's audio feature (resampled to 16 kHz)")
    data_dir: str = option("", "TFDS data_dir ('' = TFDS's default)")

    def validate(self, where: str = "data.tfds_mixture"):
        if not self.name.strip():
            raise ConfigError(f"{where}.name must name a TFDS dataset, got {self.name!r}")
        if not (self.weight > 0 and self.weight < float("inf")):
            raise ConfigError(f"{where}.weight must be a finite number > 0, got {self.weight}")
        if not self.features:
            raise ConfigError(f"{where}.features must map modalities to feature paths, e.g. [[\"text\",\"caption\"]]")
        for m, _ in self.features:
            if m not in mod.names():
                raise ConfigError(f"{where}.features: unknown modality {m!r}; expected one of {mod.names()}")
        if self.sample_rate <= 0:
            raise ConfigError(f"{where}.sample_rate must be > 0, got {self.sample_rate}")


def check_source_weights(weights: tuple[tuple[str, float], ...], key: str) -> None:
    """Corpus source weights (the MoT's data.source_weights, a tokenizer's source_weights): each source named
    once, each weight finite and >= 0."""
    names = [n for n, _ in weights]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key} names each source once, got {names}")
    for name, w in weights:
        if not (w >= 0 and math.isfinite(w)):
            raise ConfigError(f"{key} must be finite and >= 0, got {name}={w}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where training tokens come from and how examples become packed rows (docs/data.md)."""

    source: Literal["synthetic", "tokens"] = option(
        "synthetic", "synthetic: structured multimodal sequences made in seconds (tests, configs/tiny.py); tokens: "
                     "token shards written by launch/tokenize_corpus.py")
    token_dir: str = option("", "folder of token shards (data.source=tokens)")
    mixture: tuple[tuple[str, float], ...] = option(
        (("any_to_any", 0.7), ("single", 0.2), ("interleaved", 0.1)),
        f"task families and their weights (4M-style random choice per example; need not sum to 1): {TASK_FAMILIES}")
    target_weights: tuple[tuple[str, float], ...] = option(
        tuple((m, 1.0) for m in mod.names()),
        "how often each modality is the target (any_to_any) or the modality (single)")
    source_weights: tuple[tuple[str, float], ...] = option(
        (), "how often the train split's examples of each corpus source are drawn per epoch, relative to once "
            "(token shards record each example's source): 3 = three times, 0.5 = half of them, 0 = none; sources "
            "not named weigh 1; () = every example once; synthetic data ignores them")
    max_inputs: int = option(2, "conditioning modalities per any_to_any example: 1..max_inputs")
    interleaved_max_examples: int = option(4, "examples per interleaved document")
    loss_on_targets_only: bool = option(True, "False: loss on every sampled, non-leaking token")
    bidirectional_conditioning: bool = option(True, "conditioning media spans attend bidirectionally (span_ids)")
    audio_quantizers: int = option(2, "residual levels of the audio codes used in sequences")
    max_example_tokens: int = option(0, "0 = train.seq_len; longer examples are truncated or skipped")
    shuffle: bool = option(True, "full random-access shuffle, reshuffled every epoch")
    num_workers: int = option(0, "grain worker processes (0 = in the main process)")
    read_threads: int = option(2, "grain threads formatting examples ahead (per process/worker)")
    prefetch: int = option(2, "batches kept ahead on device by omni.data.pipeline.device_prefetch")
    synthetic_examples: int = option(4096, "size of the synthetic train split (validation: 1/8)")
    corpus_dir: str = option("runs/demo/corpus", "the raw corpus launch/tokenize_corpus.py reads")
    tokenizer_dir: str = option("runs/demo/tokenizers", "trained tokenizers, one subfolder per modality")
    tfds_name: str = option("", "a TFDS dataset to read instead of corpus_dir, e.g. ai2dcaption")
    tfds_data_dir: str = option("", "TFDS data_dir of tfds_name ('' = TFDS's default)")
    tfds_features: tuple[tuple[str, str], ...] = option(
        (), "modality -> feature path in the TFDS example, e.g. [[\"text\", \"caption\"], [\"image\", \"image\"]]")
    tfds_splits: tuple[tuple[str, str], ...] = option(
        (("train", "train"), ("validation", "validation")), "(omni split, TFDS split) pairs of tfds_name")
    tfds_sample_rate: int = option(16000, "sample rate of the TFDS audio feature (resampled to 16 kHz)")
    tfds_mixture: tuple[TfdsDatasetConfig, ...] = option(
        (), "a weighted mixture of TFDS datasets instead of one: tokenized into token_dir/<name>/ each, sampled by "
            "weight for the MoT's tasks and for tokenizer training (docs/data.md)")
    shard_size: int = option(1024, "examples per token shard (the unit of resumption)")
    tokenize_batch_size: int = option(64, "examples per encode batch of launch/tokenize_corpus.py")

    def validate(self):
        if self.source == "tokens" and not self.token_dir:
            raise ConfigError("data.token_dir must be set when data.source='tokens'")
        for name, _ in self.mixture:
            if name not in TASK_FAMILIES:
                raise ConfigError(f"data.mixture: unknown task family {name!r}; expected some of {TASK_FAMILIES}")
        if any(w < 0 for _, w in self.mixture) or not any(w > 0 for _, w in self.mixture):
            raise ConfigError(f"data.mixture weights must be >= 0 with one > 0, got {self.mixture}")
        for name, w in self.target_weights:
            if name not in mod.names():
                raise ConfigError(f"data.target_weights: unknown modality {name!r}; expected one of {mod.names()}")
            if w < 0:
                raise ConfigError(f"data.target_weights must be >= 0, got {name}={w}")
        if not any(w > 0 for _, w in self.target_weights):
            raise ConfigError(f"data.target_weights need one weight > 0, got {self.target_weights}")
        check_source_weights(self.source_weights, "data.source_weights")
        if self.source_weights and self.tfds_mixture:
            raise ConfigError("data.source_weights weigh the sources of data.token_dir's shards; data.tfds_mixture has "
                              "its own per-dataset weights: set one of them")
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
            if m not in mod.names():
                raise ConfigError(f"data.tfds_features: unknown modality {m!r}; expected one of {mod.names()}")
        if self.tfds_mixture and self.tfds_name:
            raise ConfigError("data.tfds_mixture and data.tfds_name exclude each other: name one dataset or a mixture")
        names = [d.name for d in self.tfds_mixture]
        for i, d in enumerate(self.tfds_mixture):
            d.validate(f"data.tfds_mixture[{i}]")
        if len(set(names)) != len(names):
            raise ConfigError(f"data.tfds_mixture names must be unique (each gets token_dir/<name>), got {names}")


@dataclasses.dataclass(frozen=True)
class Config:
    name: str = option("tiny", "the config's name (logs, exported cards)")
    run_dir: str = option("runs/default", "where checkpoints, metrics and config.json go")
    seed: int = option(0, "seed of initialisation and data order")
    steps: int = option(100, "optimizer steps of the run")
    checkpoint_every: int = option(50, "steps between checkpoints")
    model: ModelConfig = option(factory=ModelConfig)
    vocab: VocabConfig = option(factory=VocabConfig)
    mesh: MeshConfig = option(factory=MeshConfig)
    train: TrainConfig = option(factory=TrainConfig)
    data: DataConfig = option(factory=DataConfig)

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


def config_from_json(text: str) -> Config:
    return from_dict(Config, json.loads(text)).validate()


def config_to_json(cfg: Config) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
