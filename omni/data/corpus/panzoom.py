"""Captioned camera moves over real photos: zoom in/out and pans, each clip from one photo."""
from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
from PIL import Image

from omni.data.corpus.images import open_image, square, to_rgb
from omni.data.corpus.photos import photos
from omni.data.corpus.schema import make_example
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.spec import MediaSpec
from omni.data.corpus.video import conform_clip

NAME = "panzoom"
VERSION = 1
LICENSE = "derived: scikit-image photos (CC0/public domain) and GCompris photos (see gcompris)"
PACKAGES = ("gcompris-qt-data",)
MOVES = {"zoom_in": "Zooming in on {}.", "zoom_out": "Zooming out from {}.",
         "pan_left": "The camera pans left across {}.", "pan_right": "The camera pans right across {}.",
         "pan_up": "The camera pans up over {}.", "pan_down": "The camera pans down over {}."}


def settings(cfg) -> dict:
    return {"clips": cfg.panzoom_clips, "seed": cfg.seed}


def windows(move: str, frames: int) -> list[tuple[float, float, float]]:
    """Per frame (centre x, centre y, side) of the camera window, as fractions of the square photo."""
    out = []
    for t in np.linspace(0.0, 1.0, frames):
        if move in ("zoom_in", "zoom_out"):
            z = t if move == "zoom_in" else 1.0 - t
            out.append((0.5, 0.5, 1.0 - 0.5 * z))
        else:
            s = 0.6
            a = 0.5 + (0.5 - s / 2) * (2 * t - 1) * (1 if move in ("pan_right", "pan_down") else -1)
            out.append((a, 0.5, s) if move in ("pan_left", "pan_right") else (0.5, a, s))
    return out


def render_move(img: Image.Image, move: str, spec: MediaSpec) -> np.ndarray:
    if move not in MOVES:
        raise ValueError(f"move must be one of {sorted(MOVES)}, got {move!r}")
    big = square(img.convert("RGB"), spec.video_size * 8, "crop")
    n = big.width
    frames = []
    for cx, cy, side in windows(move, spec.video_frames):
        box = ((cx - side / 2) * n, (cy - side / 2) * n, (cx + side / 2) * n, (cy + side / 2) * n)
        frames.append(np.asarray(big.resize((spec.video_size,) * 2, Image.Resampling.LANCZOS, box=box), np.uint8))
    return conform_clip(frames, spec)


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=70)
def candidates(ctx: Context) -> Iterator[Candidate]:
    ps = photos(ctx)
    rng = random.Random(ctx.cfg.seed + 1)
    order = list(range(len(ps)))
    rng.shuffle(order)
    moves = sorted(MOVES)
    for i in range(ctx.cfg.panzoom_clips):
        p = ps[order[i % len(ps)]]
        move = moves[(i + i // len(ps)) % len(moves)]

        def make(p=p, move=move, i=i):
            clip = render_move(to_rgb(open_image(p.src, ctx.spec)), move, ctx.spec)
            return make_example(id=f"{NAME}/{i:05d}", source=NAME, item=p.item, text=MOVES[move].format(p.phrase),
                                video=clip, label={"camera": move, "object": p.noun})

        yield Candidate(f"{p.item} {move}", make)
