"""Photos bundled with scikit-image (those with stated CC0/public-domain terms), captioned, with views and speech."""
from __future__ import annotations

import pathlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

from omni.data.corpus.images import check_not_blank, open_image, square, to_rgb
from omni.data.corpus.schema import make_example
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import PACKAGES as SPEECH_PACKAGES

NAME = "skimage"
VERSION = 1
LICENSE = "scikit-image sample data: each photo CC0 or public domain as stated in skimage.data docstrings"
PACKAGES = SPEECH_PACKAGES  # flite speaks the captions

# file -> (caption, object noun, license note); photos without clear terms (LFW faces, moon, page) are left out.
PHOTOS: dict[str, tuple[str, str, str]] = {
    "astronaut.png": ("The astronaut Eileen Collins in her flight suit.", "astronaut", "public domain (NASA)"),
    "brick.png": ("A brick wall.", "brick wall", "CC0 (CC0Textures)"),
    "camera.png": ("A man looking through a camera on a tripod.", "cameraman", "CC0 (Lav Varshney)"),
    "cell.png": ("A cell floating in saline, seen under a microscope.", "cell", "CC0"),
    "chelsea.png": ("A tabby cat named Chelsea.", "cat", "CC0 (Stefan van der Walt)"),
    "clock_motion.png": ("A clock blurred by motion.", "clock", "public domain (Stefan van der Walt)"),
    "coffee.png": ("A cup of coffee on a saucer.", "coffee cup", "CC0 (Rachel Michetti)"),
    "coins.png": ("Greek coins from Pompeii.", "coins", "no known copyright restrictions"),
    "grass.png": ("A patch of grass.", "grass", "CC0 (CC0Textures)"),
    "gravel.png": ("Gravel on the ground.", "gravel", "CC0 (CC0Textures)"),
    "horse.png": ("A black silhouette of a horse.", "horse", "CC0 (Andreas Preuss)"),
    "hubble_deep_field.jpg": ("Distant galaxies in the Hubble deep field.", "galaxies", "public domain (NASA)"),
    "ihc.png": ("A stained tissue sample under a microscope.", "tissue", "no known copyright restrictions"),
    "microaneurysms.png": ("Blood vessels at the back of an eye.", "blood vessels", "CC0 (Andreas Maier)"),
    "retina.jpg": ("A photograph of a human retina.", "retina", "CC0"),
    "rocket.jpg": ("A rocket launching into the sky.", "rocket", "public domain (SpaceX)"),
    "text.png": ("Handwritten mathematics on paper.", "handwriting", "public domain"),
}
VIEWS = ("full", "top left", "top right", "bottom left", "bottom right")


def data_dir() -> pathlib.Path:
    import skimage  # optional: only the skimage photo source needs scikit-image

    return pathlib.Path(skimage.__file__).parent / "data"


def settings(cfg) -> dict:
    import skimage  # optional: only the skimage photo source needs scikit-image

    return {"skimage": skimage.__version__, "photos": sorted(PHOTOS)}


def photos(ctx: Context, root: pathlib.Path | None = None) -> Iterator[tuple[str, str, pathlib.Path]]:
    """(item, object noun, path) of each bundled photo; motion/pan-zoom clips use them as backgrounds."""
    root = root or data_dir()
    for fname, (_, noun, _) in PHOTOS.items():
        yield f"skimage/{fname.rsplit('.', 1)[0]}", noun, root / fname


def view(img: Image.Image, which: str) -> Image.Image:
    """The whole photo, or one of its four overlapping 60% corners (distinct views of one item)."""
    if which == "full":
        return img
    w, h = img.size
    cw, ch = int(w * 0.6), int(h * 0.6)
    x = 0 if "left" in which else w - cw
    y = 0 if "top" in which else h - ch
    return img.crop((x, y, x + cw, y + ch))


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=40)
def candidates(ctx: Context, root: pathlib.Path | None = None) -> Iterator[Candidate]:
    root = root or data_dir()
    for fname, (caption, noun, lic) in PHOTOS.items():
        path = root / fname
        item = f"skimage/{fname.rsplit('.', 1)[0]}"

        def make(path=path, item=item, caption=caption, noun=noun, lic=lic):
            img = to_rgb(open_image(path, ctx.spec))
            out = []
            for which in VIEWS:
                arr = np.asarray(square(view(img, which), ctx.spec.image_size, "crop"), np.uint8)
                check_not_blank(arr)
                text = caption if which == "full" else f"A detail of the {noun}."
                audio, voice = ctx.speak(text, f"{item}/{which}")
                out.append(make_example(id=f"{item}/{which.replace(' ', '_')}", source=NAME, item=item, text=text,
                                        image=arr, audio=audio,
                                        label={"object": noun, "view": which, "speech": voice, "license": lic}))
            return out

        yield Candidate(str(path), make)
