"""The model's own log-likelihoods of spans, and reranking sampled candidates by them.

`log_likelihood(lm, rows)` scores each row's target span given its conditioning, formatted exactly as training
formats an any-to-any example (`tasks.assemble`): the summed log-probability of the span's codes (and of its end
marker where the length is sampled: text, audio), the quantity training minimises.

`omni.sample(..., candidates=K, rerank=...)` draws K candidates per prompt in one batch and keeps the best by:

    "reverse"        log p(prompt | candidate): how well the candidate lets the model read its prompt back (each
                     prompt item the model can generate, scored given the candidate alone, summed); maximum mutual
                     information reranking (Li et al. 2016), the noisy channel's channel model (Yee et al. 2019)
    "forward"        log p(candidate | prompt): the model's own probability of the candidate (summed over its tokens,
                     so of variable-length outputs the shorter is favoured, as a beam search's score favours it)
    "bidirectional"  the sum of the two (log p(prompt | candidate) + log p(candidate | prompt))
"""
from __future__ import annotations

import functools

import jax
import numpy as np
from flax import nnx

from omni import modality as mod
from omni.data import tasks
from omni.model.loss import token_nll

RERANKERS = ("reverse", "forward", "bidirectional")
ROWS = 16          # rows per scoring call (short calls are padded: one compiled program per length bucket)
LENGTH_BUCKET = 64


def task_of(conditioning: list[tuple[str, np.ndarray]], target: str) -> str:
    """The task token training puts before `conditioning` -> `target` (none: lm / generate)."""
    if not conditioning:
        return "<task:lm>" if target == "text" else "<task:generate>"
    inputs = sorted({m for m, _ in conditioning}, key=mod.modality_id)
    return tasks.task_token(inputs, target)


def example(lm, conditioning: list[tuple[str, np.ndarray]], target: tuple[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row of the training contract: `conditioning` [(modality, local ids)] then the trained `target` span
    (audio ids frame-major, as `omni.sample` keeps them)."""
    vocab, bidi = lm.vocab, lm.spec.bidirectional_conditioning
    spans = [tasks.Span(m, vocab.to_global(m, ids), False, bidi and m != "text") for m, ids in conditioning]
    spans.append(tasks.Span(target[0], vocab.to_global(target[0], target[1]), True, False))
    return tasks.assemble(vocab, task_of(conditioning, target[0]), spans)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _row_nll(graphdef, state, batch):
    return (token_nll(nnx.merge(graphdef, state), batch)[0] * batch["loss_mask"]).sum(-1)


def log_likelihood(lm, rows: list[tuple[list[tuple[str, np.ndarray]], tuple[str, np.ndarray]]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """[(conditioning, (target modality, local ids))] -> (log p(target | conditioning), tokens scored), float64
    [N] each: the sums over the target's scored positions."""
    if not rows:
        return np.zeros(0), np.zeros(0)
    exs = [example(lm, c, t) for c, t in rows]
    longest = max(len(e["inputs"]) for e in exs)
    limit = int(lm.config.model.max_seq_len)
    if longest > limit:
        raise ValueError(f"a scored example of {longest} tokens exceeds the model's max_seq_len {limit}")
    length = min(limit, -(-longest // LENGTH_BUCKET) * LENGTH_BUCKET)
    dec = lm.decoder()
    out = []
    for s in range(0, len(exs), ROWS):
        batch = tasks.pad_examples(exs[s:s + ROWS], ROWS, length)
        out.append(np.asarray(_row_nll(dec.graphdef, dec.state, batch), np.float64)[:len(exs[s:s + ROWS])])
    tokens = np.array([e["loss_mask"].sum() for e in exs], np.float64)
    return -np.concatenate(out), tokens


def rerank_scores(lm, how: str, prompts: list[list[tuple[str, np.ndarray]]],
                  candidates: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """How good each candidate is for its prompt (higher is better), float64 [N]; prompts[i] is candidate i's
    conditioning [(modality, local ids)]."""
    if how not in RERANKERS:
        raise ValueError(f"unknown rerank {how!r}; expected one of {RERANKERS}")
    score = np.zeros(len(candidates))
    if how in ("forward", "bidirectional"):
        score += log_likelihood(lm, list(zip(prompts, candidates)))[0]
    if how in ("reverse", "bidirectional"):
        readable = lm.spec.trained_targets
        if candidates and candidates[0][0] not in lm.spec.trained_inputs:
            raise ValueError(f"rerank={how!r} reads the prompt back from the candidate, but this model was not "
                             f"trained on {candidates[0][0]!r} inputs")
        rows, owner = [], []
        for i, (cond, cand) in enumerate(zip(prompts, candidates)):
            for item in cond:
                if item[0] in readable and len(item[1]):
                    rows.append(([cand], item))
                    owner.append(i)
        if not rows and prompts:
            raise ValueError(f"rerank={how!r} needs a prompt item the model can generate "
                             f"({list(readable)}); this prompt has none")
        ll, _ = log_likelihood(lm, rows)
        np.add.at(score, np.asarray(owner, np.int64), ll)
    return score
