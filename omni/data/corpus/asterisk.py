"""Asterisk voice prompts (Allison Smith, US English) with their transcripts: speech + text pairs."""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

from omni.data.corpus.audio import load_audio
from omni.data.corpus.schema import make_example
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.text import clean_text

NAME = "asterisk"
VERSION = 1
LICENSE = "CC-BY-SA-3.0 (Asterisk core sounds, recorded by Allison Smith, Digium)"
PACKAGES = ("asterisk-core-sounds-en", "asterisk-core-sounds-en-wav")
TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
_LINE = re.compile(r"^([\w/+.-]+):\s*(.*)$")


def settings(cfg) -> dict:
    return {}


def transcripts(raw: bytes) -> dict[str, str]:
    """`name: transcript` lines of the package's list (comments start with ';')."""
    out = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        m = _LINE.match(line.strip())
        if m and not line.startswith(";"):
            out[m.group(1)] = m.group(2).strip()
    return out


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=30)
def candidates(ctx: Context) -> Iterator[Candidate]:
    doc, wav = ctx.debs.root(PACKAGES[0]), ctx.debs.root(PACKAGES[1])
    table = transcripts(gzip.decompress((doc / TRANSCRIPTS).read_bytes()))
    for name, said in sorted(table.items()):
        path = wav / SOUNDS / f"{name}.wav"

        def make(name=name, said=said, path=path):
            if not path.exists():
                raise Skip("missing_file", str(path))
            if said.startswith("[") or not re.search(r"[A-Za-z0-9]", said):
                raise Skip("not_speech", said[:60])  # "[this is a simple beep tone]"
            text = clean_text(said)
            audio = load_audio(path, ctx.spec)
            item = f"{NAME}/{name}"
            return make_example(id=item, source=NAME, item=item, text=text, audio=audio,
                                label={"speaker": "Allison Smith", "speech": "recorded"})

        yield Candidate(str(path), make)
