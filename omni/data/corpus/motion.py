"""Synthetic captioned motion clips: a real Tux Paint cut-out moving left/right/up/down over a real photo.

Held out are objects and backgrounds both: a clip's item is its stamp's (so validation clips show objects never
trained on) and its background is drawn only from photos of the same split as the stamp (so validation clips
move over backgrounds never trained on either; the photos' own examples keep the same split)."""
from __future__ import annotations

import functools
import random
from collections.abc import Iterator

import numpy as np
from PIL import Image

from omni.data.corpus import tuxpaint
from omni.data.corpus.images import load_cutout, open_image, square, to_rgb
from omni.data.corpus.photos import Photo, photos
from omni.data.corpus.schema import make_example, split_of
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.spec import MediaSpec
from omni.data.corpus.video import conform_clip

NAME = "motion"
VERSION = 2
LICENSE = "derived: Tux Paint stamps (GPL-2.0-or-later) over scikit-image (CC0/PD) and GCompris photos"
PACKAGES = ("tuxpaint-stamps-default", "gcompris-qt-data")
DIRECTIONS = ("left", "right", "up", "down")
SUPERSAMPLE = 4  # render at 4x and downsample, so 2-pixel steps stay smooth


def settings(cfg) -> dict:
    return {"clips": cfg.motion_clips, "seed": cfg.seed}


def render_motion(cutout: np.ndarray, background: Image.Image, direction: str, spec: MediaSpec,
                  rng: random.Random) -> np.ndarray:
    """[F, S, S, 3]: the cut-out's centre travels 60% of the frame in `direction`, background still."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    c = spec.video_size * SUPERSAMPLE
    bg = square(background.convert("RGB"), c, "crop")
    obj = Image.fromarray(cutout, "RGBA")
    scale = c * rng.uniform(0.45, 0.6) / max(obj.size)
    obj = obj.resize((max(1, round(obj.width * scale)), max(1, round(obj.height * scale))), Image.Resampling.LANCZOS)
    across = rng.uniform(0.35, 0.65) * c
    start, end = {"left": (0.8, 0.2), "right": (0.2, 0.8), "up": (0.8, 0.2), "down": (0.2, 0.8)}[direction]
    frames = []
    for t in np.linspace(0.0, 1.0, spec.video_frames):
        along = (start + (end - start) * t) * c
        cx, cy = (along, across) if direction in ("left", "right") else (across, along)
        frame = bg.copy()
        frame.paste(obj, (round(cx - obj.width / 2), round(cy - obj.height / 2)), obj)  # alpha as mask
        frames.append(np.asarray(frame.resize((spec.video_size,) * 2, Image.Resampling.BOX), np.uint8))
    clip = conform_clip(frames, spec)
    if np.abs(clip[0].astype(np.int16) - clip[-1].astype(np.int16)).mean() < 1.0:
        raise Skip("static_clip", "the object does not visibly move against this background")
    return clip


@functools.lru_cache(maxsize=512)
def _background(photo: Photo, spec: MediaSpec) -> Image.Image:
    img = to_rgb(open_image(photo.src if not isinstance(photo.src, bytes) else photo.src, spec))
    return square(img, spec.video_size * SUPERSAMPLE, "crop")


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=60)
def candidates(ctx: Context) -> Iterator[Candidate]:
    stamps = [s for s in tuxpaint.stamps(ctx.debs.root(tuxpaint.PACKAGES[0])) if s.png is not None]
    bgs = photos(ctx)
    if not stamps or not bgs:
        raise FileNotFoundError(f"motion clips need stamps and photos; found {len(stamps)} and {len(bgs)}")
    per_mille = ctx.cfg.validation_per_mille
    by_split = {s: [b for b in bgs if split_of(b.item, per_mille) == s] for s in ("train", "validation")}
    if not by_split["train"] or not by_split["validation"]:
        raise FileNotFoundError(f"motion clips need backgrounds in both splits; found "
                                f"{ {s: len(b) for s, b in by_split.items()} }")
    rng = random.Random(ctx.cfg.seed)
    rng.shuffle(stamps)
    for i in range(ctx.cfg.motion_clips):
        st = stamps[i % len(stamps)]
        direction = DIRECTIONS[(i + i // len(stamps)) % len(DIRECTIONS)]
        pool = by_split[split_of(st.item, per_mille)]
        bg = pool[rng.randrange(len(pool))]
        seed = rng.randrange(2**31)

        def make(st=st, direction=direction, bg=bg, seed=seed, i=i):
            text = tuxpaint.caption(st.txt)
            phrase = tuxpaint.noun_phrase(text, st)
            clip = render_motion(load_cutout(st.png, ctx.spec), _background(bg, ctx.spec), direction, ctx.spec,
                                 random.Random(seed))
            text = f"{phrase[:1].upper()}{phrase[1:]} moving {direction}."
            return make_example(
                id=f"{NAME}/{i:05d}", source=NAME, item=st.item, text=text, video=clip,
                label={"object": tuxpaint.bare_object(phrase), "motion": direction, "background": bg.noun,
                       "background_item": bg.item})

        yield Candidate(f"{st.png} over {bg.item}", make)
