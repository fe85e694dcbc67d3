"""Colour: Tux Paint stamps on a neutral grey card, captioned "a <colour> <object>" with the object's dominant
colour word, measured from its pixels (so the label is true of the picture).

The colour is `judges.colour_name` over the cut-out's opaque pixels at full resolution; a stamp is kept only when
that colour word covers at least `cfg.colour_min_share` of its chromatic pixels and chromatic pixels are at least
a fifth of its opaque ones (a clear answer), and an "orange" one must be vivid, not brown (the judge has no
brown: `ORANGE_MIN_VALUE`, `ORANGE_MIN_SATURATION`). The grey card (not the white of the `tuxpaint` pictures) tells the
model which caption is wanted. Each stamp is shown in `cfg.colour_views` placements (size, position, mirror), so
a few hundred stamps give enough examples to learn from in the demo's steps. Items are the stamps' own keys, so
held-out colour pictures are of objects never seen in training (the same objects the `tuxpaint` source holds out).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from omni.data.corpus import tuxpaint
from omni.data.corpus.images import load_cutout
from omni.data.corpus.schema import make_example
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.spec import MediaSpec
from omni.eval.judges import colour_words

NAME = "colour"
VERSION = 1
LICENSE = "derived: Tux Paint stamps (GPL-2.0-or-later); colour words measured from pixels"
PACKAGES = (tuxpaint.PACKAGES[0],)
CARD = (128, 128, 128)  # neutral grey: no colour word of its own (judges.colour_words calls it "grey")
CHROMATIC = ("red", "orange", "yellow", "green", "blue", "purple")
MIN_CHROMATIC = 0.2  # chromatic share of the opaque pixels
# The judge's colour words have no brown: dark or dull orange is brown or tan to a person, so an "orange" stamp
# must be vivid (median of its orange pixels: brightness >= 0.7, saturation >= 0.5) or it is skipped.
ORANGE_MIN_VALUE, ORANGE_MIN_SATURATION = 0.7, 0.5


def settings(cfg) -> dict:
    return {"min_share": cfg.colour_min_share, "min_chromatic": MIN_CHROMATIC, "card": CARD,
            "orange": (ORANGE_MIN_VALUE, ORANGE_MIN_SATURATION),
            "views": VIEWS[:cfg.colour_views]}


def dominant_colour(cutout: np.ndarray, min_share: float) -> tuple[str, float]:
    """(colour word, its share of the chromatic pixels) of an RGBA cut-out's opaque pixels; `Skip` if unclear."""
    opaque = cutout[..., 3] > 128
    words = colour_words(cutout[..., :3])[opaque]
    chroma = words[np.isin(words, CHROMATIC)]
    if chroma.size < MIN_CHROMATIC * max(words.size, 1):
        raise Skip("no_clear_colour", f"chromatic share {chroma.size / max(words.size, 1):.2f} < {MIN_CHROMATIC}")
    names, counts = np.unique(chroma.astype(str), return_counts=True)
    share = counts.max() / chroma.size
    top = str(names[counts.argmax()])
    if share < min_share:
        raise Skip("no_clear_colour", f"top colour {top} covers {share:.2f} < {min_share}")
    if top == "orange":
        px = cutout[..., :3][opaque][words == "orange"].astype(np.float32) / 255.0
        mx, mn = px.max(-1), px.min(-1)
        value, sat = float(np.median(mx)), float(np.median((mx - mn) / np.maximum(mx, 1e-6)))
        if value < ORANGE_MIN_VALUE or sat < ORANGE_MIN_SATURATION:
            raise Skip("brown_not_orange", f"orange pixels' median brightness {value:.2f}, saturation {sat:.2f}")
    return top, float(share)


# views of one stamp: (size as a fraction of the card side, centre x, centre y, mirrored)
VIEWS = ((0.8, 0.5, 0.5, False), (0.6, 0.35, 0.6, True), (0.6, 0.65, 0.4, False), (0.7, 0.45, 0.45, True))


def on_card(cutout: np.ndarray, spec: MediaSpec, view: int = 0) -> np.ndarray:
    """The whole cut-out on a grey square card, placed as `VIEWS[view]` says: uint8 [S, S, 3]."""
    size, cx, cy, mirror = VIEWS[view]
    s = spec.image_size * 4
    obj = Image.fromarray(cutout, "RGBA")
    if mirror:
        obj = obj.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    scale = size * s / max(obj.size)
    obj = obj.resize((max(1, round(obj.width * scale)), max(1, round(obj.height * scale))), Image.Resampling.LANCZOS)
    card = Image.new("RGB", (s, s), CARD)
    card.paste(obj, (round(cx * s - obj.width / 2), round(cy * s - obj.height / 2)), obj)
    return np.asarray(card.resize((spec.image_size,) * 2, Image.Resampling.BOX), np.uint8)


def caption(colour: str, obj: str) -> str:
    return f"{'an' if colour[0] in 'aeiou' else 'a'} {colour} {obj}"


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=12)
def candidates(ctx: Context) -> Iterator[Candidate]:
    for st in tuxpaint.stamps(ctx.debs.root(PACKAGES[0])):
        if st.png is None:
            continue  # vector-only stamps are counted by the tuxpaint source

        def make(st=st):
            cutout = load_cutout(st.png, ctx.spec)
            colour, share = dominant_colour(cutout, ctx.cfg.colour_min_share)
            obj = tuxpaint.bare_object(tuxpaint.noun_phrase(tuxpaint.caption(st.txt), st))
            label = {"probe": NAME, "colour": colour, "share": round(share, 3), "object": obj}
            return [make_example(id=f"{NAME}/{st.item}/{v}", source=NAME, item=st.item, text=caption(colour, obj),
                                 image=on_card(cutout, ctx.spec, v), label={**label, "view": v})
                    for v in range(ctx.cfg.colour_views)]

        yield Candidate(str(st.png), make)
