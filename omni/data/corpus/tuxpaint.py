"""Tux Paint stamps: drawings/photos with English captions, recorded or synthesized spoken captions, sounds."""
from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Iterator

from omni.data.corpus.audio import load_audio
from omni.data.corpus.images import load_image
from omni.data.corpus.schema import make_example
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import PACKAGES as SPEECH_PACKAGES
from omni.data.corpus.text import clean_text, first_sentence

NAME = "tuxpaint"
VERSION = 1
LICENSE = "GPL-2.0-or-later (Tux Paint stamps, Bill Kendrick and contributors)"
PACKAGES = ("tuxpaint-stamps-default", *SPEECH_PACKAGES)  # flite speaks the captions
STAMPS = "usr/share/tuxpaint/stamps"
_LOCALE_LINE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?(@\w+)?\.utf8=")


@dataclasses.dataclass(frozen=True)
class Stamp:
    item: str  # "tuxpaint/animals/mammals/bovines/goat"
    txt: pathlib.Path
    png: pathlib.Path | None
    desc: pathlib.Path | None  # English recorded description (`<name>_desc.ogg`)
    sound: pathlib.Path | None  # the stamp's sound effect (`<name>.ogg`)


def _existing(stem: pathlib.Path, suffix: str) -> pathlib.Path | None:
    p = stem.parent / (stem.name + suffix)
    return p if p.exists() else None


def stamps(root: pathlib.Path) -> list[Stamp]:
    """Every stamp (one caption file each) under an unpacked tuxpaint-stamps tree."""
    base = root / STAMPS
    if not base.is_dir():
        raise FileNotFoundError(f"no Tux Paint stamps folder at {base}")
    out = []
    for txt in sorted(base.rglob("*.txt")):
        stem = txt.with_suffix("")
        png, desc, sound = (_existing(stem, suffix) for suffix in (".png", "_desc.ogg", ".ogg"))
        out.append(Stamp(f"{NAME}/{stem.relative_to(base).as_posix()}", txt, png, desc, sound))
    return out


def caption(txt: pathlib.Path) -> str:
    """The English caption: the first line that is not a `xx.utf8=` translation."""
    try:
        raw = txt.read_bytes()
    except OSError as e:
        raise Skip("unreadable_file", str(e)) from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise Skip("non_utf8_text", str(e)) from None
    english = [ln for ln in lines if ln.strip() and not _LOCALE_LINE.match(ln)]
    return clean_text(english[0] if english else "")


def noun_phrase(text: str, stamp: Stamp, max_words: int = 5) -> str:
    """Short name of what a stamp shows ("a goat"), for sound and motion captions."""
    s = first_sentence(text).rstrip(".!?\u201d\"").strip()
    if len(s.split()) > max_words:
        words = re.sub(r"[-_\d]+", " ", stamp.txt.stem).strip() or "thing"
        s = f"a {words}"
    return s[0].lower() + s[1:] if s[:1].isupper() and not s[1:2].isupper() else s


def bare_object(phrase: str) -> str:
    return re.sub(r"^(a|an|the|some)\s+", "", phrase, flags=re.I)


def settings(cfg) -> dict:
    return {}


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=10)
def candidates(ctx: Context) -> Iterator[Candidate]:
    for st in stamps(ctx.debs.root(PACKAGES[0])):
        def make(st=st):
            if st.png is None:
                raise Skip("unsupported_format", "vector-only stamp (SVG), no PNG")
            text = caption(st.txt)
            image = load_image(st.png, ctx.spec, fit="pad")
            phrase = noun_phrase(text, st)
            if st.desc is not None:
                try:
                    audio, speech = load_audio(st.desc, ctx.spec), "recorded"
                except Skip as s:
                    ctx.notes[f"recording_dropped_{s.reason}"] += 1
                    audio, speech = ctx.speak(text, st.item)
            else:
                audio, speech = ctx.speak(text, st.item)
            label = {"object": bare_object(phrase), "category": st.item.split("/")[1], "speech": speech}
            out = [make_example(id=st.item, source=NAME, item=st.item, text=text, image=image, audio=audio,
                                label=label)]
            if st.sound is not None:
                try:
                    sound = load_audio(st.sound, ctx.spec, crop=True)
                    out.append(make_example(id=f"{st.item}/sound", source=NAME, item=st.item,
                                            text=f"The sound of {phrase}.", audio=sound,
                                            label={"object": label["object"], "kind": "sound_effect"}))
                except Skip as s:
                    ctx.notes[f"sound_dropped_{s.reason}"] += 1
            return out

        yield Candidate(str(st.txt), make)
