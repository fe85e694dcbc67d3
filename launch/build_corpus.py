"""Build the built-in offline corpus: `python launch/build_corpus.py --out runs/demo/corpus [options]`.

Sources are fetched from Debian packages (apt-get download + dpkg -x into --cache) and PyPI packages
already installed; rebuilding reuses every source whose settings did not change.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
import time

from omni.cli import absl_flags_parsed
from omni.data.corpus.build import CorpusError, build_corpus
from omni.data.corpus.source import source_names
from omni.data.corpus.spec import CorpusConfig, MediaSpec


def parse(argv: list[str]):
    d, m, known = CorpusConfig(), MediaSpec(), source_names()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=pathlib.Path, help="TFDS data_dir to write omni_corpus into")
    p.add_argument("--cache", type=pathlib.Path, default=d.cache, help="Debian packages and stage files")
    p.add_argument("--sources", default="", help=f"comma-separated subset of {','.join(known)}")
    p.add_argument("--image-size", type=int, default=m.image_size)
    p.add_argument("--video-frames", type=int, default=m.video_frames)
    p.add_argument("--video-size", type=int, default=m.video_size)
    p.add_argument("--sample-rate", type=int, default=m.sample_rate)
    p.add_argument("--max-audio-s", type=float, default=m.max_audio_s)
    p.add_argument("--bible-passages", type=int, default=d.max_bible_passages)
    p.add_argument("--bible-speech", type=int, default=d.max_bible_speech)
    p.add_argument("--motion-clips", type=int, default=d.motion_clips)
    p.add_argument("--panzoom-clips", type=int, default=d.panzoom_clips)
    p.add_argument("--numbers-max", type=int, default=d.numbers_max,
                   help="spoken numbers 0..N (at most 999), by every voice")
    p.add_argument("--colour-views", type=int, default=d.colour_views,
                   help="placements of each colour stamp on its card (1..4)")
    p.add_argument("--colour-min-share", type=float, default=d.colour_min_share,
                   help="share of a stamp's chromatic pixels its colour word must cover (0..1]")
    p.add_argument("--validation-per-mille", type=int, default=d.validation_per_mille)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    sources = tuple(s for s in a.sources.split(",") if s)
    unknown = [s for s in sources if s not in known]
    if unknown:
        p.error(f"unknown sources {unknown}; expected a subset of {list(known)}")
    media = MediaSpec(image_size=a.image_size, video_frames=a.video_frames, video_size=a.video_size,
                      sample_rate=a.sample_rate, max_audio_s=a.max_audio_s)
    cfg = CorpusConfig(out=a.out, cache=a.cache, media=media, sources=sources,
                       max_bible_passages=a.bible_passages, max_bible_speech=a.bible_speech,
                       motion_clips=a.motion_clips, panzoom_clips=a.panzoom_clips, numbers_max=a.numbers_max,
                       colour_views=a.colour_views, colour_min_share=a.colour_min_share,
                       validation_per_mille=a.validation_per_mille, workers=a.workers)
    try:
        cfg.validate()
    except ValueError as e:  # one line, exit 2
        p.error(str(e))
    return cfg, a.quiet


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cfg, quiet = parse(argv)
    t0 = time.time()
    try:
        meta = build_corpus(cfg, progress=not quiet)
    except CorpusError as e:  # one line, exit 2
        print(f"build_corpus: error: {e}", file=sys.stderr)
        return 2
    print(f"\nomni_corpus in {cfg.out} ({time.time() - t0:.0f}s this run); splits {meta['splits']}")
    print(f"{'source':>14s} {'examples':>8s}  {'kinds':40s} skipped (reason: count)")
    for name, s in meta["sources"].items():
        kinds = ", ".join(f"{k}:{v}" for k, v in sorted(s["kinds"].items()))
        print(f"{name:>14s} {s['examples']:8d}  {kinds:40s} {json.dumps(s['skipped'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
