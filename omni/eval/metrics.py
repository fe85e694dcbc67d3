"""Pure evaluation metrics: text (token-F1, WER), majority baselines, retrieval accuracy, perplexity.

Text is compared after `words`: lower-cased, punctuation dropped, split on whitespace, so "A goat." and
"a goat" are equal.
"""
from __future__ import annotations

import collections
import math
import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Normalised words of `text`: lower case, letters/digits (inner apostrophes kept), no punctuation."""
    return _WORD.findall(str(text).lower())


def token_f1(reference: str, hypothesis: str) -> float:
    """Bag-of-words F1 between two texts (SQuAD style); 1 if both are empty, 0 if only one is."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref or not hyp:
        return float(ref == hyp)
    common = sum((collections.Counter(ref) & collections.Counter(hyp)).values())
    if common == 0:
        return 0.0
    p, r = common / len(hyp), common / len(ref)
    return 2 * p * r / (p + r)


def exact_match(reference: str, hypothesis: str) -> float:
    return float(words(reference) == words(hypothesis))


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions cost 1)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate: total word edits / total reference words (may exceed 1)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"wer needs as many hypotheses as references, got {len(hypotheses)} and {len(references)}")
    edits = sum(edit_distance(words(r), words(h)) for r, h in zip(references, hypotheses))
    total = sum(len(words(r)) for r in references)
    if total == 0:
        raise ValueError("wer is undefined when the references hold no words")
    return edits / total


def ratio_ci(numerators, denominators, level: float = 0.95, resamples: int = 2000, seed: int = 0
             ) -> tuple[float, float]:
    """Percentile-bootstrap interval of sum(numerators) / sum(denominators) over examples resampled with
    replacement: an accuracy (1/0 over 1 per example) or a corpus WER (word edits over reference words)."""
    num, den = np.asarray(numerators, np.float64), np.asarray(denominators, np.float64)
    if num.shape != den.shape or num.ndim != 1 or num.size == 0:
        raise ValueError(f"ratio_ci needs two equal, non-empty 1-D sequences, got {num.shape} and {den.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    idx = np.random.default_rng(seed).integers(0, num.size, (resamples, num.size))
    tot = den[idx].sum(1)
    ratios = num[idx].sum(1)[tot > 0] / tot[tot > 0]
    lo, hi = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def nested_ratio_ci(groups, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """`ratio_ci` over several runs (e.g. training seeds) judged on the same kind of examples: `groups` is a list
    of (numerators, denominators) pairs, one per run. Each resample draws runs with replacement, then examples
    with replacement within each drawn run (a two-level bootstrap), so the interval holds the run-to-run spread as
    well as the example sampling; the statistic is the pooled sum(numerators) / sum(denominators)."""
    arrays = [(np.asarray(n, np.float64), np.asarray(d, np.float64)) for n, d in groups]
    if not arrays or any(n.shape != d.shape or n.ndim != 1 or n.size == 0 for n, d in arrays):
        raise ValueError("nested_ratio_ci needs one or more runs, each two equal, non-empty 1-D sequences")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(resamples):
        num = den = 0.0
        for g in rng.integers(0, len(arrays), len(arrays)):
            n, d = arrays[g]
            idx = rng.integers(0, n.size, n.size)
            num, den = num + n[idx].sum(), den + d[idx].sum()
        if den > 0:
            ratios.append(num / den)
    lo, hi = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean(values) -> float:
    values = list(values)
    if not values:
        raise ValueError("mean of no values")
    return float(np.mean(values))


def majority(labels: list) -> tuple[object, float]:
    """(most common label, the accuracy of always predicting it); ties go to the first seen."""
    if not labels:
        raise ValueError("majority of no labels")
    counts = collections.Counter(labels)
    label = max(counts, key=lambda k: (counts[k], -labels.index(k)))
    return label, counts[label] / len(labels)


def majority_text(texts: list[str]) -> str:
    """The most common text after normalisation (the constant 'predict the usual caption' baseline)."""
    label, _ = majority([" ".join(words(t)) for t in texts])
    return label


def retrieval_accuracy(queries: np.ndarray, bank: np.ndarray, truth) -> float:
    """Fraction of queries [N, D] whose nearest bank row [K, D] (Euclidean) is their own item `truth` [N]."""
    q, b = np.asarray(queries, np.float64), np.asarray(bank, np.float64)
    truth = np.asarray(truth)
    if q.ndim != 2 or b.ndim != 2 or q.shape[1] != b.shape[1] or truth.shape != (q.shape[0],):
        raise ValueError(f"retrieval needs queries [N, D], bank [K, D], truth [N]; got {q.shape}, {b.shape}, "
                         f"{truth.shape}")
    d = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return float((d.argmin(axis=1) == truth).mean())


def perplexity(loss: float) -> float:
    """exp(mean nll in nats); inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
