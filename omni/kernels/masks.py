"""Mask-info generators for tests and benchmarks: causal, interleaved multimodal, random packed rows."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from omni.attention_ref import MaskInfo


def _info(seg: np.ndarray, pos: np.ndarray, span: np.ndarray) -> MaskInfo:
    return MaskInfo(jnp.asarray(seg, jnp.int32), jnp.asarray(pos, jnp.int32), jnp.asarray(span, jnp.int32))


def causal_info(batch: int, length: int) -> MaskInfo:
    """One causal segment per row: plain language modelling."""
    pos = np.broadcast_to(np.arange(length), (batch, length))
    return _info(np.ones((batch, length)), pos, np.zeros((batch, length)))


def multimodal_info(batch: int, length: int, *, docs: int = 4, text: int = 256, media: int = 512) -> MaskInfo:
    """`docs` packed documents per row, each text / media(bidirectional span) / text / media ...

    Rows end in padding when the documents do not fill them.
    """
    seg, pos, span = (np.zeros((batch, length), np.int64) for _ in range(3))
    doc_len = length // docs
    span_id = 0
    for d in range(docs):
        start = d * doc_len
        seg[:, start:start + doc_len] = d + 1
        pos[:, start:start + doc_len] = np.arange(doc_len)
        t = text
        while t < doc_len:
            span_id += 1
            span[:, start + t:start + min(t + media, doc_len)] = span_id
            t += media + text
    return _info(seg, pos, span)


def random_packed_info(rng: np.random.Generator, batch: int, length: int, *, max_segments: int = 4,
                       span_prob: float = 0.5, pad_prob: float = 0.5) -> MaskInfo:
    """Random packed rows: uneven segments, random bidirectional spans, optional trailing padding.

    Span ids increase along a row (0 = none); positions restart at 0 in each segment.
    """
    seg, pos, span = (np.zeros((batch, length), np.int64) for _ in range(3))
    for b in range(batch):
        used = length - (int(rng.integers(1, length // 3)) if rng.random() < pad_prob else 0)
        n = int(rng.integers(1, max_segments + 1))
        cuts = np.sort(rng.choice(np.arange(1, used), size=min(n - 1, used - 1), replace=False))
        bounds = [0, *cuts.tolist(), used]
        span_id = 0
        for s, (a, e) in enumerate(zip(bounds[:-1], bounds[1:])):
            seg[b, a:e] = s + 1
            pos[b, a:e] = np.arange(e - a)
            t = a
            while t < e:
                run = int(rng.integers(1, max(2, (e - a) // 2)))
                if rng.random() < span_prob:
                    span_id += 1
                    span[b, t:t + run] = span_id
                t += run
    return _info(seg, pos, span)
