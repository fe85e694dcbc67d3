"""Structure of one generated span: which global ids each step may take, its length rule and end token.

Image and video get exactly their token count and then their end marker, inserted; text and audio stop
at their (sampled) end token or at the step budget. Audio steps are frame-major (tasks.audio_to_sequence):
step t is level t % k, so only that level's codes are allowed and the end token only between frames.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from omni import modality as mod
from omni.sampling.spec import SamplingSpec
from omni.vocab import UnifiedVocab


@dataclasses.dataclass(frozen=True)
class TargetPlan:
    """allowed [period, V] bool: codes step t may take (phase t % period), the end token excluded."""

    modality: str
    end_id: int
    fixed_len: int      # > 0: exactly this many codes, then the end token is inserted
    max_new: int        # steps the loop may run: codes + the end token (inserted at the last step)
    min_new: int        # the end token is allowed from this step on (variable length only)
    allowed: np.ndarray

    @property
    def modality_id(self) -> int:
        return mod.modality_id(self.modality)

    @property
    def period(self) -> int:
        return int(self.allowed.shape[0])


def _codes_mask(vocab: UnifiedVocab, modality: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """[V] bool over global ids: local codes [lo, hi) of `modality` (never markers or specials)."""
    n = vocab.num_codes(modality)
    hi = n if hi is None else hi
    m = np.zeros(vocab.size, bool)
    off = vocab.code_offset(modality)
    m[off + lo:off + hi] = True
    return m


def plan_target(vocab: UnifiedVocab, spec: SamplingSpec, target: str, *, max_new_tokens: int | None = None,
                max_seconds: float | None = None) -> TargetPlan:
    """The plan for generating one `target` span with this vocabulary and sampling spec."""
    if target not in vocab.modalities:
        raise ValueError(f"cannot generate {target!r}: the vocabulary has only {vocab.modalities}")
    if target not in spec.trained_targets:
        raise ValueError(f"this model was not trained to generate {target!r}; it can generate "
                         f"{list(spec.trained_targets)}")
    end = vocab.end_id(target)
    fixed = spec.fixed_tokens(target)
    if fixed:
        return TargetPlan(target, end, fixed, fixed + 1, fixed, _codes_mask(vocab, target)[None])
    if target == "audio":
        k, cb = spec.audio_quantizers, spec.audio_codebook
        seconds = spec.max_audio_s if max_seconds is None else float(max_seconds)
        if seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        frames = max(1, math.ceil(seconds * spec.audio_frame_rate))
        if max_new_tokens is not None:
            frames = min(frames, max(1, int(max_new_tokens) // k))
        if cb and cb * k <= vocab.num_codes("audio"):
            allowed = np.stack([_codes_mask(vocab, "audio", lv * cb, (lv + 1) * cb) for lv in range(k)])
        else:
            allowed = np.repeat(_codes_mask(vocab, "audio")[None], k, axis=0)
        return TargetPlan(target, end, 0, frames * k + 1, k, allowed)
    n = spec.text_max_tokens if max_new_tokens is None else int(max_new_tokens)
    if n <= 0:
        raise ValueError(f"max_new_tokens must be > 0, got {max_new_tokens}")
    return TargetPlan(target, end, 0, n + 1, 1, _codes_mask(vocab, target)[None])  # text: codes + eos


def fit_budget(plan: TargetPlan, budget: int) -> TargetPlan:
    """Shrinks a variable-length plan's step budget to `budget` (audio: whole frames + end)."""
    if plan.fixed_len or plan.max_new <= budget:
        return plan
    steps = (budget - 1) // plan.period * plan.period + 1
    if steps <= plan.min_new:
        raise ValueError(f"only {budget} positions are left for {plan.modality} after the prompt; "
                         f"the model's max_seq_len is too small for this prompt")
    return dataclasses.replace(plan, max_new=steps)


# What `default_budget` allows, named for the caches and fingerprints of results sampled with it (the seeds study's
# probes, the demo's evaluate stage): changing the rule must change this string.
DEFAULT_BUDGET_RULE = "audio up to train.seq_len"


def default_budget(config, target: str, prompt_len: int, min_new: int) -> int:
    """Positions an output of default length may take after a prompt of `prompt_len`: up to the model's max_seq_len;
    audio only up to the longest sequence the model trained on (train.seq_len) where the prompt leaves room there,
    since training truncated longer speech and nothing past it was learnt (the demo: ~2.4 s of speech after a
    short text, where the tokenizer's 4 s maximum would double every runaway output's decode steps)."""
    longest = config.model.max_seq_len
    if target == "audio" and config.train.seq_len - prompt_len > min_new:
        longest = min(longest, config.train.seq_len)
    return longest - prompt_len
