"""Task formatting: one tokenized example -> one training sequence of global ids with per-token roles.

A sequence is `<task:T>` followed by spans `begin(m) codes... end(m)` (text: `<bos> ... <eos>`).
Families (chosen per example with `DataConfig.mixture`, 4M-style):

  any_to_any   conditioning spans (1..max_inputs other modalities, random order) then one target span
  single       one span, trained (language modelling, image-only, audio-only, video-only)
  interleaved  spans of several examples (text and one media each, random order), all trained

Audio is laid out frame-major in sequences (`audio_to_sequence`): frame 0 levels 0..k-1, frame 1, ...
so a sampler may stop after any whole frame; `audio_from_sequence` restores [k, frames].
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from omni import modality as mod
from omni.config import DEFAULT_TASK_TOKENS, TASK_FAMILIES, DataConfig
from omni.data.token_shards import decode_example
from omni.vocab import UnifiedVocab

FAMILIES = TASK_FAMILIES
# The end token of these is sampled (so trained); image and video have fixed lengths: it is inserted.
VARIABLE_LENGTH = ("text", "audio")
_DATA = DataConfig()  # the defaults of TaskConfig's fields
SKIP_REASONS = ("corrupt", "empty", "bad_shape", "out_of_range", "too_long", "no_task")
TASKS = DEFAULT_TASK_TOKENS


class Skip(Exception):
    """An example that cannot become a training sequence; `reason` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}; expected one of {SKIP_REASONS}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Stands in the example stream for a skipped example, so its reason can be counted downstream."""

    reason: str


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """The formatting knobs of `DataConfig`, resolved (max_tokens is the row budget of one example); the
    defaults and meanings are DataConfig's."""

    max_tokens: int
    mixture: tuple[tuple[str, float], ...] = _DATA.mixture
    target_weights: tuple[tuple[str, float], ...] = _DATA.target_weights
    max_inputs: int = _DATA.max_inputs
    interleaved_max_examples: int = _DATA.interleaved_max_examples
    audio_quantizers: int = _DATA.audio_quantizers
    loss_on_targets_only: bool = _DATA.loss_on_targets_only
    bidirectional_conditioning: bool = _DATA.bidirectional_conditioning

    @classmethod
    def from_config(cls, cfg) -> TaskConfig:
        d = cfg.data
        max_tokens = d.max_example_tokens or cfg.train.seq_len
        if max_tokens > cfg.train.seq_len:
            raise ValueError(f"data.max_example_tokens ({max_tokens}) must be <= train.seq_len "
                             f"({cfg.train.seq_len}): an example has to fit in one packed row")
        return cls(max_tokens=max_tokens, mixture=tuple(d.mixture), target_weights=tuple(d.target_weights),
                   max_inputs=d.max_inputs, interleaved_max_examples=d.interleaved_max_examples,
                   audio_quantizers=d.audio_quantizers, loss_on_targets_only=d.loss_on_targets_only,
                   bidirectional_conditioning=d.bidirectional_conditioning)


@dataclasses.dataclass
class Span:
    """One media item / text in a sequence: `codes` are global ids [n] (no markers)."""

    modality: str
    codes: np.ndarray
    target: bool          # trained (a target) or conditioning
    bidirectional: bool   # tokens attend to each other both ways (conditioning media only)


@dataclasses.dataclass
class Formatted:
    """A formatted example: arrays of the batch contract, each [n] (before packing)."""

    arrays: dict[str, np.ndarray]
    family: str
    task: str
    truncated: bool

    @property
    def length(self) -> int:
        return int(self.arrays["inputs"].shape[0])


# ---- audio layout --------------------------------------------------------------------------------

def audio_to_sequence(levels_frames: np.ndarray, k: int) -> np.ndarray:
    """[levels, frames] local ids -> [frames * k] frame-major (first k levels)."""
    a = np.asarray(levels_frames)
    if a.ndim != 2 or a.shape[0] < k:
        raise ValueError(f"audio tokens must be [levels >= {k}, frames], got shape {a.shape}")
    return np.ascontiguousarray(a[:k].T).reshape(-1)


def audio_from_sequence(seq: np.ndarray, k: int) -> np.ndarray:
    """[frames * k] frame-major ids -> [k, frames] (a trailing partial frame is dropped)."""
    s = np.asarray(seq)
    frames = s.shape[-1] // k
    return s[..., :frames * k].reshape(*s.shape[:-1], frames, k).swapaxes(-1, -2)


# ---- validation ----------------------------------------------------------------------------------

def check_example(example: dict[str, Any], vocab: UnifiedVocab, fixed_lengths: dict[str, int],
                  audio_quantizers: int) -> dict[str, np.ndarray]:
    """Local token arrays -> {modality: local 1-D sequence ids}; raises Skip for bad data."""
    out: dict[str, np.ndarray] = {}
    for m in mod.names():
        if m not in example or example[m] is None:
            continue
        a = np.asarray(example[m])
        if a.size == 0:
            continue
        if not np.issubdtype(a.dtype, np.integer):
            raise Skip("bad_shape", f"{m} tokens have dtype {a.dtype}")
        if m == "audio":
            if a.ndim != 2 or a.shape[0] < audio_quantizers:
                raise Skip("bad_shape", f"audio tokens must be [levels >= {audio_quantizers}, frames], "
                                        f"got {a.shape}")
            a = audio_to_sequence(a, audio_quantizers)
        elif a.ndim != 1:
            raise Skip("bad_shape", f"{m} tokens must be 1-D, got {a.shape}")
        if m in fixed_lengths and a.shape[0] != fixed_lengths[m]:
            raise Skip("bad_shape", f"{m} must have {fixed_lengths[m]} tokens, got {a.shape[0]}")
        codes = vocab_ids(vocab)["codes"]
        if m not in codes:
            raise Skip("out_of_range", f"the vocabulary has no {m} range")
        n = codes[m]
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= n:
            raise Skip("out_of_range", f"{m} ids span [{lo}, {hi}], expected [0, {n})")
        out[m] = a.astype(np.int32)
    if not out:
        raise Skip("empty", "no modality has tokens")
    return out


# ---- sequence assembly ---------------------------------------------------------------------------

def task_token(inputs: list[str], target: str) -> str:
    """The task token of an any_to_any example (single: lm / generate; interleaved: interleaved)."""
    if target == "text":
        if inputs == ["image"]:
            return "<task:caption>"
        if inputs == ["audio"]:
            return "<task:transcribe>"
        return "<task:describe>"
    if target == "audio" and "text" in inputs:
        return "<task:speak>"
    return "<task:generate>"


@functools.lru_cache(maxsize=16)
def vocab_ids(vocab: UnifiedVocab) -> dict[str, Any]:
    """Cached id lookups of `vocab` (its methods rebuild tuples on every call; formatting is hot)."""
    mods = vocab.modalities
    return {"begin": {m: vocab.begin_id(m) for m in mods}, "end": {m: vocab.end_id(m) for m in mods},
            "task": {t: vocab.task_id(t) for t in vocab.special_tokens if t.startswith("<task:")},
            "offset": {m: np.int32(vocab.code_offset(m)) for m in mods},
            "codes": {m: vocab.num_codes(m) for m in mods}, "mid": {m: mod.modality_id(m) for m in mods},
            "pad": vocab.pad_id}


def assemble(vocab: UnifiedVocab, task: str, spans: list[Span], loss_on_targets_only: bool = True
             ) -> dict[str, np.ndarray]:
    """`<task>` + spans -> the contract's per-example arrays, each [n]: inputs, targets, input_modality,
    target_modality, span_ids (1.. per bidirectional span), loss_mask."""
    ids = vocab_ids(vocab)
    if task not in ids["task"]:
        raise ValueError(f"unknown task token {task!r}; known: {sorted(ids['task'])}")
    n = sequence_length(spans)
    tokens = np.empty(n, np.int32)
    modality = np.zeros(n, np.int32)      # markers are text (0)
    span = np.zeros(n, np.int32)
    sampled = np.zeros(n, bool)
    target = np.zeros(n, bool)
    tokens[0] = ids["task"][task]
    i, next_span = 1, 1
    for s in spans:
        k = len(s.codes)
        a, b, e = i + 1, i + 1 + k, i + 1 + k  # codes [a, b), end token at e
        tokens[i], tokens[a:b], tokens[e] = ids["begin"][s.modality], s.codes, ids["end"][s.modality]
        modality[a:e + 1] = ids["mid"][s.modality]
        if s.bidirectional:
            span[a:e + 1] = next_span
            next_span += 1
        sampled[a:b] = True
        sampled[e] = s.modality in VARIABLE_LENGTH
        target[a:e + 1] = s.target
        i = e + 1
    if loss_on_targets_only:
        trained = sampled & target
    else:  # everything sampled, except targets a position could already see (inside its own span)
        leak = np.zeros_like(sampled)
        leak[1:] = (span[1:] != 0) & (span[1:] == span[:-1])
        trained = sampled & ~leak
    targets = np.empty(n, np.int32)
    targets[:-1], targets[-1] = tokens[1:], ids["pad"]
    target_modality = np.zeros(n, np.int32)  # the final pad target is text
    target_modality[:-1] = modality[1:]
    loss = np.zeros(n, np.float32)
    loss[:-1] = trained[1:]
    return {"inputs": tokens, "targets": targets, "input_modality": modality, "target_modality": target_modality,
            "span_ids": span, "loss_mask": loss}


def pad_examples(examples: list[dict[str, np.ndarray]], rows: int, seq_len: int) -> dict[str, np.ndarray]:
    """Examples -> one batch of the training contract [rows, seq_len] (one segment per row, zero padding)."""
    if len(examples) > rows:
        raise ValueError(f"{len(examples)} examples do not fit {rows} rows")
    keys = ("inputs", "targets", "input_modality", "target_modality", "span_ids")
    batch = {k: np.zeros((rows, seq_len), np.int32) for k in keys + ("segment_ids", "positions")}
    batch["loss_mask"] = np.zeros((rows, seq_len), np.float32)
    for i, ex in enumerate(examples):
        n = len(ex["inputs"])
        if n > seq_len:
            raise ValueError(f"an example of {n} tokens does not fit seq_len {seq_len}")
        for k in keys + ("loss_mask",):
            batch[k][i, :n] = ex[k]
        batch["segment_ids"][i, :n] = 1
        batch["positions"][i, :n] = np.arange(n)
    return batch


def sequence_length(spans: list[Span]) -> int:
    return 1 + sum(2 + len(s.codes) for s in spans)


def truncate(spans: list[Span], budget: int, audio_quantizers: int) -> bool:
    """Shortens text / audio spans (longest first, audio by whole frames) to fit `budget` tokens.

    Returns whether anything was cut; raises Skip("too_long") if fixed-length spans alone do not fit.
    """
    excess = sequence_length(spans) - budget
    cut = False
    while excess > 0:
        cand = [s for s in spans if s.modality in VARIABLE_LENGTH and len(s.codes) > _min_len(s, audio_quantizers)]
        if not cand:
            raise Skip("too_long", f"{sequence_length(spans)} tokens > budget {budget}")
        s = max(cand, key=lambda x: len(x.codes))
        keep = max(len(s.codes) - excess, _min_len(s, audio_quantizers))
        if s.modality == "audio":
            keep -= keep % audio_quantizers
            keep = max(keep, audio_quantizers)
        excess -= len(s.codes) - keep
        s.codes = s.codes[:keep]
        cut = True
    return cut


def _min_len(s: Span, k: int) -> int:
    return k if s.modality == "audio" else 1


def _pick(rng: np.random.Generator, names: list[str], weights: dict[str, float]) -> str | None:
    """One of `names` with probability proportional to its weight (None if all weights are 0)."""
    total = sum(weights.get(n, 0.0) for n in names)
    if total <= 0:
        return None
    u, acc = rng.random() * total, 0.0
    for n in names:
        acc += weights.get(n, 0.0)
        if u < acc and weights.get(n, 0.0) > 0:
            return n
    return next(n for n in reversed(names) if weights.get(n, 0.0) > 0)


class Formatter:
    """Turns validated examples into `Formatted` sequences; deterministic given the rng."""

    def __init__(self, vocab: UnifiedVocab, cfg: TaskConfig, fixed_lengths: dict[str, int] | None = None):
        missing = [t for t in TASKS if t not in vocab.special_tokens]
        if missing:
            raise ValueError(f"the vocabulary lacks task tokens {missing}; add them to vocab.task_tokens")
        if cfg.max_tokens < 4:
            raise ValueError(f"max_tokens must be >= 4 to hold a task token and one span, got {cfg.max_tokens}")
        self.vocab, self.cfg = vocab, cfg
        self.fixed_lengths = dict(fixed_lengths or {})
        self.family_weights = dict(cfg.mixture)
        self.target_weights = dict(cfg.target_weights)

    def check(self, example: dict[str, Any]) -> dict[str, np.ndarray]:
        return check_example(example, self.vocab, self.fixed_lengths, self.cfg.audio_quantizers)

    def _global(self, local: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        offset = vocab_ids(self.vocab)["offset"]
        return {m: a + offset[m] for m, a in local.items()}

    def __call__(self, example: dict[str, Any], rng: np.random.Generator,
                 draw_extra: Callable[[np.random.Generator], dict[str, Any]] | None = None) -> Formatted:
        """Formats one example; `draw_extra(rng)` returns another raw example (interleaved documents)."""
        codes = self._global(self.check(example))
        avail = [m for m in mod.names() if m in codes]
        weighted = [m for m in avail if self.target_weights.get(m, 0) > 0]
        feasible = {"single": bool(weighted), "interleaved": True,
                    "any_to_any": len(avail) >= 2 and bool(weighted)}
        family = _pick(rng, [f for f in FAMILIES if feasible[f]], self.family_weights)
        if family is None:  # e.g. the mixture is only any_to_any and the example has one modality
            raise Skip("no_task", f"modalities {avail} support no family with weight > 0 in {self.cfg.mixture}")
        if family == "any_to_any":
            target = _pick(rng, weighted, self.target_weights)
            others = [m for m in avail if m != target]
            n_in = int(rng.integers(1, min(self.cfg.max_inputs, len(others)) + 1))
            inputs = [others[i] for i in rng.permutation(len(others))[:n_in]]
            bidi = self.cfg.bidirectional_conditioning
            spans = [Span(m, codes[m], False, bidi and m != "text") for m in inputs]
            spans.append(Span(target, codes[target], True, False))
            task = task_token(sorted(inputs, key=mod.modality_id), target)
        elif family == "single":
            m = _pick(rng, weighted, self.target_weights)
            spans = [Span(m, codes[m], True, False)]
            task = "<task:lm>" if m == "text" else "<task:generate>"
        else:
            spans, task = self._document_spans(codes, rng), "<task:interleaved>"
        truncated = truncate(spans, self.cfg.max_tokens, self.cfg.audio_quantizers)
        if family == "interleaved" and draw_extra is not None:
            self._extend_document(spans, rng, draw_extra)
        arrays = assemble(self.vocab, task, spans, self.cfg.loss_on_targets_only)
        return Formatted(arrays, family, task, truncated)

    def _document_spans(self, codes: dict[str, np.ndarray], rng: np.random.Generator) -> list[Span]:
        """Text and one random media item of an example, in random order, all trained."""
        media = [m for m in codes if m != "text"]
        chosen = (["text"] if "text" in codes else []) + ([media[int(rng.integers(len(media)))]] if media else [])
        order = rng.permutation(len(chosen))
        return [Span(chosen[i], codes[chosen[i]], True, False) for i in order]

    def _extend_document(self, spans: list[Span], rng: np.random.Generator, draw_extra) -> None:
        """Appends whole (untruncated) spans of more examples while they fit the budget."""
        for _ in range(self.cfg.interleaved_max_examples - 1):
            try:
                more = self._document_spans(self._global(self.check(draw_extra(rng))), rng)
            except Skip:
                continue  # a bad neighbour is counted when it is formatted as a main example
            if sequence_length(spans + more) > self.cfg.max_tokens:
                break
            spans.extend(more)


class DecodeRecord:
    """Pipeline stage: token-shard bytes -> example dict, or Skipped("corrupt") if the record does not parse."""

    def __call__(self, record):
        try:
            return decode_example(record)
        except ValueError:
            return Skipped("corrupt")


class FormatExample:
    """Pipeline stage (grain random_map): example -> Formatted | Skipped; neighbours come from `records`."""

    def __init__(self, formatter: Formatter, records):
        self.formatter, self.records = formatter, records

    def __call__(self, example, rng: np.random.Generator):
        if isinstance(example, Skipped):
            return example
        try:
            return self.formatter(example, rng, self._draw)
        except Skip as e:
            return Skipped(e.reason)

    def _draw(self, rng: np.random.Generator):
        ex = self.records[int(rng.integers(len(self.records)))]
        if isinstance(ex, Skipped):
            raise Skip(ex.reason)
        return ex


def prompt(vocab: UnifiedVocab, task: str, conditioning: list[tuple[str, np.ndarray]], target: str,
           bidirectional: bool = True) -> dict[str, np.ndarray]:
    """The prefix a sampler feeds for `conditioning` [(modality, local ids)] -> `target`, as training saw it.

    Returns `inputs`, `input_modality`, `span_ids` [n], ending with the target's begin marker (audio ids
    must already be frame-major, see `audio_to_sequence`).
    """
    spans = [Span(m, vocab.to_global(m, ids), False, bidirectional and m != "text") for m, ids in conditioning]
    arrays = assemble(vocab, task, spans)
    text = mod.modality_id("text")
    return {"inputs": np.append(arrays["inputs"], np.int32(vocab.begin_id(target))),
            "input_modality": np.append(arrays["input_modality"], np.int32(text)),
            "span_ids": np.append(arrays["span_ids"], np.int32(0))}
