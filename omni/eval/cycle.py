"""Cycle consistency ("Telephone Game"): text -> image -> text and text -> speech -> text, several rounds.

Round r feeds the previous round's text back through the other modality; drift is the token-F1 between
the original text and the text after each round (1 = nothing lost). The floor is the F1 between each
original and another item's original (what an unrelated text scores).
"""
from __future__ import annotations

from omni.eval import metrics
from omni.eval.generate import GenOptions, audio_tokens, generate, item

CYCLES = {"text->image->text": "image", "text->audio->text": "audio"}


def run_cycle(lm, texts: list[str], via: str, rounds: int, opts: GenOptions) -> tuple[list[float], list[list[str]]]:
    """-> (mean token-F1 to the original per round [rounds], texts per round [rounds][N])."""
    current, per_round, chain = list(texts), [], []
    for _ in range(rounds):
        media = generate(lm, [[t] for t in current], via, opts)
        prompts = [[audio_tokens(g)] if via == "audio" else [item(via, g.media)] for g in media]
        current = [g.media for g in generate(lm, prompts, "text", opts)]
        chain.append(current)
        per_round.append(metrics.mean(metrics.token_f1(o, c) for o, c in zip(texts, current)))
    return per_round, chain


def unrelated_floor(texts: list[str]) -> float:
    """Mean token-F1 of each text against the next one (cyclically): the score of an unrelated text."""
    if len(texts) < 2:
        raise ValueError("the unrelated-text floor needs at least 2 texts")
    return metrics.mean(metrics.token_f1(a, b) for a, b in zip(texts, texts[1:] + texts[:1]))
