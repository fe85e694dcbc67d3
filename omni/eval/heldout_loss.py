"""Held-out loss and perplexity for each task direction (input modality -> target modality).

Every validation token-shard example holding both modalities of a direction is formatted exactly as
training formats an any_to_any example with one input (`tasks.assemble`: task token, the conditioning
span, the trained target span), so the loss is the target's next-token loss given the input. Rows are
padded to the training sequence length, so one compiled program serves every direction and model.
"""
from __future__ import annotations

import numpy as np
from flax import nnx

from omni.data import tasks
from omni.data.token_shards import TokenShardSource, decode_example
from omni.eval.metrics import perplexity
from omni.train.evaluate import eval_step_fn

ROWS = 8


def direction_name(source: str, target: str) -> str:
    return f"{source}->{target}"


def direction_examples(token_dir, vocab, spec, seq_len: int, limit: int, split: str = "validation",
                       max_records: int = 4000) -> dict[str, list[dict[str, np.ndarray]]]:
    """{"image->text": [assembled arrays, ...], ...}: up to `limit` examples per direction."""
    source = TokenShardSource(token_dir, split)
    fixed = {m: int(n) for m, n in source.meta.get("fixed_lengths", {}).items()}
    k = spec.audio_quantizers
    ids = tasks.vocab_ids(vocab)
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for r in range(min(len(source), max_records)):
        try:
            local = tasks.check_example(decode_example(source[r]), vocab, fixed, k)
        except (tasks.Skip, ValueError):
            continue
        for a in local:
            for b in local:
                if a == b or b not in spec.trained_targets or a not in spec.trained_inputs:
                    continue
                name = direction_name(a, b)
                if len(out.setdefault(name, [])) >= limit:
                    continue
                spans = [tasks.Span(a, local[a] + ids["offset"][a], False,
                                    spec.bidirectional_conditioning and a != "text"),
                         tasks.Span(b, local[b] + ids["offset"][b], True, False)]
                try:
                    tasks.truncate(spans, seq_len, k)
                except tasks.Skip:
                    continue
                out[name].append(tasks.assemble(vocab, tasks.task_token([a], b), spans))
    return {n: v for n, v in sorted(out.items()) if v}


def direction_losses(model, examples: dict[str, list[dict[str, np.ndarray]]], seq_len: int, rows: int = ROWS
                     ) -> dict[str, dict[str, float]]:
    """model: an omni.model.OmniModel -> {direction: {"loss", "perplexity", "tokens", "examples"}}."""
    graphdef, params = nnx.split(model)
    step = eval_step_fn(graphdef, None, ())
    out = {}
    for name, exs in examples.items():
        nll, tokens = 0.0, 0.0
        for s in range(0, len(exs), rows):
            _, sums = step(params, tasks.pad_examples(exs[s:s + rows], rows, seq_len))
            nll += float(sums["nll"])
            tokens += float(sums["tokens"])
        loss = nll / max(tokens, 1.0)
        out[name] = {"loss": loss, "perplexity": perplexity(loss), "tokens": int(tokens), "examples": len(exs)}
    return out


def uniform_loss(vocab, target: str) -> float:
    """The loss of a uniform guess over the target modality's head (its whole vocabulary slice)."""
    a, b = vocab.range(target)
    return float(np.log(b - a))
