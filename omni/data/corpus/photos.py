"""Real photos to move over or across: scikit-image's and GCompris's, each with an item key and a phrase."""
from __future__ import annotations

import dataclasses
from typing import Any

from omni.data.corpus import gcompris, skimage_photos
from omni.data.corpus.source import Context


@dataclasses.dataclass(frozen=True)
class Photo:
    item: str  # same key as the photo's own examples, so clips stay in its split
    noun: str  # "cat"
    phrase: str  # "a tabby cat named Chelsea"
    src: Any  # path or encoded bytes


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def photos(ctx: Context) -> list[Photo]:
    out = []
    root = skimage_photos.data_dir()
    for fname, (caption, noun, _) in skimage_photos.PHOTOS.items():
        if fname in ("horse.png", "text.png"):  # a silhouette and a page: no scene to film
            continue
        phrase = caption.rstrip(".")
        out.append(Photo(f"skimage/{fname.rsplit('.', 1)[0]}", noun, phrase[0].lower() + phrase[1:], root / fname))
    files = gcompris.resources(ctx.debs.root(gcompris.PACKAGES[0]), ("erase", "categorization"))
    for folder, cat in (("erase/resource", "animal"), ("categorization/resource/images/monuments", "monument")):
        prefix = f"{gcompris.ACT}/{folder}/"
        names = [p for p in files if p.startswith(prefix) and p.endswith(".webp") and "/" not in p[len(prefix):]]
        for path in sorted(names):
            stem = path[len(prefix):-5]
            noun = gcompris.words_of(stem)
            noun = noun.title() if cat == "monument" else noun
            if noun in ("", "monument"):
                continue
            phrase = f"a photo of {_article(noun)}" if cat == "animal" else f"a photo of the {noun}"
            out.append(Photo(f"gcompris/{folder.split('/')[0]}/{stem}", noun, phrase, files[path]))
    return out
