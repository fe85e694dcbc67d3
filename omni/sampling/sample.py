"""`omni.sample`: prompt media -> generated media of one modality, or of several in turn (chained).

Each target is generated with its own prompt formatted exactly as training formats an any-to-any
example (`omni.data.tasks.prompt`): the task token, the conditioning spans (the prompt items, then every
earlier output of the chain, as 4M's chained generation), and the target's begin marker.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from omni import modality as mod
from omni.data import tasks
from omni.sampling.decode_loop import Controls, PromptBatch, strip
from omni.sampling.loaded import LoadedModel
from omni.sampling.prompt import tokenize_prompt
from omni.sampling.score import RERANKERS, rerank_scores, task_of
from omni.sampling.targets import default_budget, fit_budget, plan_target


@dataclasses.dataclass
class Generated:
    """One generated item: local `tokens` (audio [levels, frames]) and decoded `media` (None if not decoded):
    text str | image float32 [H, W, 3] | audio float32 [T] at `sample_rate` | video float32 [T, H, W, 3]."""

    modality: str
    tokens: np.ndarray
    media: Any = None
    sample_rate: int | None = None
    score: float | None = None      # its rerank score when it was chosen from several candidates


@dataclasses.dataclass
class Sample:
    """All outputs for one prompt, in the order of `to`; `sample.media` is the last one's."""

    outputs: list[Generated]

    def __getitem__(self, modality: str) -> Generated:
        for g in reversed(self.outputs):
            if g.modality == modality:
                return g
        raise KeyError(f"no {modality!r} output; generated {[g.modality for g in self.outputs]}")

    @property
    def media(self):
        return self.outputs[-1].media

    @property
    def tokens(self) -> np.ndarray:
        return self.outputs[-1].tokens


def _is_batch(prompt) -> bool:
    return isinstance(prompt, list) and bool(prompt) and all(isinstance(p, list) for p in prompt)


def _decode(lm: LoadedModel, modality: str, codes: np.ndarray, decode: bool) -> Generated:
    """Global codes of one output -> Generated with local tokens and (with `decode`) media."""
    vocab, spec = lm.vocab, lm.spec
    local = vocab.to_local(modality, codes) if codes.size else codes.astype(np.int32)
    tokens = tasks.audio_from_sequence(local, spec.audio_quantizers) if modality == "audio" else local
    tok = lm.tokenizers.get(modality)
    if not decode:
        return Generated(modality, tokens)
    if modality == "text":
        return Generated(modality, tokens, tok.decode([tokens])[0])
    if modality == "audio":
        if tokens.shape[-1] == 0:
            return Generated(modality, tokens, np.zeros(0, np.float32), spec.sample_rate)
        wave = np.asarray(tok.decode(tokens.reshape(1, -1), num_quantizers=spec.audio_quantizers))[0]
        return Generated(modality, tokens, wave.astype(np.float32), spec.sample_rate)
    if modality == "video":
        shape = (spec.video_frames, spec.video_size, spec.video_size, 3)
        return Generated(modality, tokens, np.asarray(tok.decode_like(tokens[None], shape))[0].astype(np.float32))
    return Generated(modality, tokens, np.asarray(tok.decode(tokens[None]))[0].astype(np.float32))


def sample(model: LoadedModel, prompt, to, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           guidance: float = 1.0, seed: int = 0, max_new_tokens: int | None = None,
           max_seconds: float | None = None, decode: bool = True, use_cache: bool = True, candidates: int = 1,
           rerank: str = "reverse"):
    """Generates `to` (a modality or a list, in turn) from `prompt`.

    prompt: one prompt (an item or a list of items, see omni.sampling.prompt) or a batch (a list of such
    lists). guidance > 1 adds classifier-free guidance (unconditional rows in the same batch). candidates > 1
    samples that many outputs per prompt (in the same batch) and keeps the best by `rerank`, one of
    omni.sampling.score.RERANKERS (default "reverse": the likeliest to give the prompt back).
    Returns a `Sample` (or a list of them for a batch).
    """
    if not isinstance(model, LoadedModel):
        raise TypeError(f"sample() needs a LoadedModel (from omni.load(bundle) or LoadedModel.from_model), "
                        f"got {type(model).__name__}")
    targets = [to] if isinstance(to, str) else list(to)
    if not targets:
        raise ValueError("to= names no modality; expected e.g. 'image' or ['image', 'audio']")
    for t in targets:
        if t not in mod.names():
            raise ValueError(f"unknown target modality {t!r}; expected one of {mod.names()}")
        if t not in model.spec.trained_targets:
            raise ValueError(f"this model was not trained to generate {t!r}; it can generate "
                             f"{list(model.spec.trained_targets)}")
        if decode and t not in model.tokenizers:
            raise ValueError(f"this bundle has no {t} tokenizer to decode {t}; pass decode=False to get tokens")
    if int(candidates) != candidates or candidates < 1:
        raise ValueError(f"candidates must be a whole number >= 1, got {candidates}")
    if rerank not in RERANKERS:
        raise ValueError(f"unknown rerank {rerank!r}; expected one of {RERANKERS}")
    if candidates > 1 and temperature == 0:
        raise ValueError(f"candidates={candidates} needs temperature > 0: greedy decoding draws the same output "
                         f"{candidates} times")
    K = int(candidates)
    batch = prompt if _is_batch(prompt) else [prompt]
    conds = [tokenize_prompt(p, model.tokenizers, model.spec) for p in batch]
    controls = Controls(temperature, top_k, top_p, guidance, seed).validate()
    vocab, bidi = model.vocab, model.spec.bidirectional_conditioning
    results: list[list[Generated]] = [[] for _ in batch]
    for i, target in enumerate(targets):
        plan = plan_target(vocab, model.spec, target, max_new_tokens=max_new_tokens, max_seconds=max_seconds)
        rows = [tasks.prompt(vocab, task_of(c, target), c, target, bidi) for c in conds]
        if max_new_tokens is None and max_seconds is None:  # default caps shrink to what fits
            plan = fit_budget(plan, default_budget(model.config, target, max(len(r["inputs"]) for r in rows),
                                                   plan.min_new))
        rows = [r for r in rows for _ in range(K)]  # each prompt's K candidates side by side
        uncond = None
        if guidance != 1.0:
            empty = tasks.prompt(vocab, task_of([], target), [], target, bidi)
            uncond = PromptBatch.pad([empty] * len(rows))
        out = model.decoder().generate(PromptBatch.pad(rows), plan,
                                       dataclasses.replace(controls, seed=seed + 1000003 * i),
                                       uncond=uncond, use_cache=use_cache)
        codes = [strip(row, plan) for row in out]
        scores = None
        if K > 1:
            scores = rerank_scores(model, rerank, [conds[r // K] for r in range(len(codes))],
                                   [(target, vocab.to_local(target, c)) for c in codes]).reshape(len(batch), K)
        for b in range(len(batch)):
            k = 0 if scores is None else int(np.argmax(scores[b]))
            best = codes[b * K + k]
            g = _decode(model, target, best, decode)
            g.score = None if scores is None else float(scores[b, k])
            results[b].append(g)
            if best.size:  # the output conditions the next target of the chain
                conds[b] = conds[b] + [(target, vocab.to_local(target, best))]
    samples = [Sample(r) for r in results]
    return samples if _is_batch(prompt) else samples[0]

