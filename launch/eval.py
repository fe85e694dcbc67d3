"""Evaluate a bundle on held-out data: every figure beside a baseline and the untrained model.

    python launch/eval.py --bundle runs/demo/bundle --corpus runs/demo/corpus --tokens runs/demo/tokens \
        --run runs/demo/model --out runs/demo [--limit 16]

Writes OUT/report.json (numbers) and OUT/report.md (tables, image grids, audio, video strips, loss
curves, tokenizer reconstructions; media under OUT/report/). See docs/eval.md.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from omni.cli import absl_flags_parsed
from omni.eval.generate import GenOptions
from omni.eval.run import evaluate_bundle
from omni.sampling.score import RERANKERS


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=pathlib.Path, help="folder written by launch/export.py")
    p.add_argument("--corpus", required=True, type=pathlib.Path, help="corpus data_dir (its validation split)")
    p.add_argument("--tokens", type=pathlib.Path, default=None,
                   help="token-shard folder (validation split) for the held-out loss per direction")
    p.add_argument("--run", type=pathlib.Path, default=None, help="training run folder (metrics.jsonl)")
    p.add_argument("--out", required=True, type=pathlib.Path, help="folder for report.json and report.md")
    p.add_argument("--limit", type=int, default=16, help="held-out examples per direction")
    p.add_argument("--cycle-items", type=int, default=8, help="texts sent round each cycle")
    p.add_argument("--rounds", type=int, default=3, help="cycle rounds")
    p.add_argument("--loss-examples", type=int, default=32, help="held-out examples per direction for the loss")
    p.add_argument("--temperature", type=float, default=0.0, help="for text outputs; 0 = greedy")
    p.add_argument("--media-temperature", type=float, default=1.0, help="for image/audio/video outputs")
    p.add_argument("--media-top-p", type=float, default=0.9, help="nucleus for image/audio/video outputs")
    p.add_argument("--media-guidance", type=float, default=GenOptions.media_guidance,
                   help="classifier-free guidance scale for image/audio/video outputs (1 = none)")
    p.add_argument("--audio-temperature", type=float, default=GenOptions.audio_temperature,
                   help="for audio outputs (default: --media-temperature's)")
    p.add_argument("--audio-guidance", type=float, default=GenOptions.audio_guidance,
                   help="classifier-free guidance scale for audio outputs (default: --media-guidance's)")
    p.add_argument("--candidates", action="append", default=[], metavar="MODALITY=K",
                   help="image/audio/video outputs: sample K per prompt, keep the best by --rerank (1 = plain "
                        "sampling; repeatable; default: " + _pairs(GenOptions.candidates) + ")")
    p.add_argument("--rerank", action="append", default=[], metavar="MODALITY=HOW",
                   help=f"how a modality's candidates are ranked, one of {', '.join(RERANKERS)} (omni.sampling.score; "
                        "repeatable; default: " + _pairs(GenOptions.rerank) + ")")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-text-tokens", type=int, default=32)
    p.add_argument("--max-audio-seconds", type=float, default=None, help="default: the trained maximum")
    p.add_argument("--no-untrained", action="store_true", help="skip the untrained-model column")
    a = p.parse_args(argv)
    try:
        a.candidates = _merge(GenOptions.candidates, a.candidates, "--candidates", _count)
        a.rerank = _merge(GenOptions.rerank, a.rerank, "--rerank", _reranker)
    except ValueError as e:
        p.error(str(e))
    if a.limit < 2:
        p.error("--limit must be >= 2 (retrieval and baselines need several items)")
    for flag, value in (("--media-guidance", a.media_guidance), ("--audio-guidance", a.audio_guidance)):
        if value is not None and value < 0:
            p.error(f"{flag} must be >= 0 (1 = no guidance), got {value}")
    for flag, value in (("--media-temperature", a.media_temperature), ("--audio-temperature", a.audio_temperature)):
        if value is not None and value < 0:
            p.error(f"{flag} must be >= 0 (0 = greedy), got {value}")
    return a


def _pairs(pairs) -> str:
    return " ".join(f"{m}={v}" for m, v in pairs)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"a whole number >= 1 (1 = plain sampling), got {text!r}")
    return int(text)


def _reranker(text: str) -> str:
    if text not in RERANKERS:
        raise ValueError(f"one of {', '.join(RERANKERS)}, got {text!r}")
    return text


def _merge(defaults, given: list[str], flag: str, value) -> tuple:
    """`flag MODALITY=VALUE` arguments over the defaults' (modality, value) pairs."""
    out = dict(defaults)
    for arg in given:
        m, eq, v = arg.partition("=")
        if not eq or m not in ("image", "audio", "video"):
            raise ValueError(f"{flag} takes MODALITY=VALUE with MODALITY one of image, audio, video; got {arg!r}")
        try:
            out[m] = value(v)
        except ValueError as e:
            raise ValueError(f"{flag} {m}= expects {e}") from None
    return tuple(out.items())


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    a = parse(argv)
    opts = GenOptions(temperature=a.temperature, media_temperature=a.media_temperature,
                      media_top_p=a.media_top_p, media_guidance=a.media_guidance,
                      audio_temperature=a.audio_temperature, audio_guidance=a.audio_guidance, seed=a.seed,
                      batch=a.limit, max_text_tokens=a.max_text_tokens, max_audio_s=a.max_audio_seconds,
                      candidates=a.candidates, rerank=a.rerank)
    try:
        evaluate_bundle(a.bundle, a.corpus, a.out, token_dir=a.tokens, run_dir=a.run, limit=a.limit,
                        cycle_items=a.cycle_items, rounds=a.rounds, loss_examples=a.loss_examples, options=opts,
                        untrained=not a.no_untrained)
    except (ValueError, FileNotFoundError) as e:  # BundleError, missing corpus/shards say what was expected
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
