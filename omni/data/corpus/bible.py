"""King James Bible (public domain): chapter passages for the language model and short verses spoken by flite."""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import numpy as np

from omni.data.corpus.schema import make_example
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import PACKAGES as SPEECH_PACKAGES
from omni.data.corpus.text import clean_text

NAME = "bible"
VERSION = 1
LICENSE = "public domain (King James Version, 1611); extracted with Debian's bible-kjv (GPL-2.0-or-later)"
PACKAGES = ("bible-kjv-text", "bible-kjv", *SPEECH_PACKAGES)  # flite speaks the captions
PASSAGE_CHARS = 1000
SPOKEN_WORDS = (4, 10)  # verses of this many words fit the 4 s audio cap when spoken
_VERSE = re.compile(r"^(\S+?)(\d+):(\d+) (.+)$")


def settings(cfg) -> dict:
    return {"passages": cfg.max_bible_passages, "speech": cfg.max_bible_speech, "chars": PASSAGE_CHARS,
            "spoken_words": SPOKEN_WORDS}


def verses(ctx: Context) -> list[tuple[str, str, str]]:
    """(chapter key "Ge1", verse "1", text) for the whole text, decoded by the package's own `bible` tool."""
    data, tool = ctx.debs.root("bible-kjv-text"), ctx.debs.root("bible-kjv")
    r = subprocess.run([str(tool / "usr/bin/bible"), "-f", "-p", str(data / "usr/lib"), "gen1:1-rev22:21"],
                       capture_output=True, timeout=120, env=dict(os.environ, PAGER="cat"))
    if r.returncode != 0:
        raise RuntimeError(f"bible tool failed (rc={r.returncode}): {r.stderr.decode(errors='replace')[-300:]}")
    out = []
    for line in r.stdout.decode("utf-8", errors="replace").splitlines():
        m = _VERSE.match(line.strip())
        if m:
            out.append((f"{m.group(1)}{m.group(2)}", m.group(3), m.group(4)))
    if not out or not out[-1][0].startswith("Rev22"):
        raise RuntimeError(f"bible tool printed {len(out)} verses, not the whole text (Genesis 1 to Revelation 22)")
    return out


def passages(vs: list[tuple[str, str, str]], max_chars: int = PASSAGE_CHARS) -> list[tuple[str, str, str]]:
    """Consecutive verses of one chapter joined up to `max_chars`: (chapter, first verse, text)."""
    out, cur, cur_ch, first = [], [], None, ""
    for ch, v, text in vs:
        if cur and (ch != cur_ch or sum(map(len, cur)) + len(text) > max_chars):
            out.append((cur_ch, first, " ".join(cur)))
            cur = []
        if not cur:
            cur_ch, first = ch, v
        cur.append(text)
    if cur:
        out.append((cur_ch, first, " ".join(cur)))
    return out


def spread(n_total: int, n_keep: int) -> list[int]:
    """`n_keep` indices evenly spread over `n_total` (deterministic), all if n_keep >= n_total."""
    if n_keep <= 0 or n_keep >= n_total:
        return list(range(n_total))
    return sorted(set(np.linspace(0, n_total - 1, n_keep).round().astype(int).tolist()))


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=50)
def candidates(ctx: Context) -> Iterator[Candidate]:
    vs = verses(ctx)
    ps = passages(vs)
    for i in spread(len(ps), ctx.cfg.max_bible_passages):
        ch, v, text = ps[i]

        def make(ch=ch, v=v, text=text):
            item = f"{NAME}/{ch}"
            return make_example(id=f"{item}:{v}", source=NAME, item=item, text=clean_text(text, 4 * PASSAGE_CHARS),
                                label={"book_chapter": ch, "verse": v, "kind": "passage"})

        yield Candidate(f"{ch}:{v}", make)
    short = [x for x in vs if SPOKEN_WORDS[0] <= len(x[2].split()) <= SPOKEN_WORDS[1]]
    if ctx.cfg.max_bible_speech > 0:
        for i in spread(len(short), ctx.cfg.max_bible_speech):
            ch, v, text = short[i]

            def make_speech(ch=ch, v=v, text=text):
                item = f"{NAME}/{ch}"
                text = clean_text(text)
                audio, voice = ctx.speak(text, f"{item}:{v}")
                if audio is None:
                    raise Skip("speech_failed", f"{ch}:{v}")
                return make_example(id=f"{item}:{v}/speech", source=NAME, item=item, text=text, audio=audio,
                                    label={"book_chapter": ch, "verse": v, "kind": "speech", "speech": voice})

            yield Candidate(f"{ch}:{v} (speech)", make_speech)
