"""Spoken numbers: 0..`cfg.numbers_max` spoken by Debian's synthesizers (flite's voices, espeak-ng's voices and
variants), each utterance captioned twice: as number words ("seventy three") and as a numeral ("73").

Held-out generalisation is to new speakers: every utterance of the voices in `HELDOUT_VOICES` is in the validation
split and every other voice's in train (the item key ends in `@validation` / `@train`, see `schema.split_of`), so
the validation split holds only voices never heard in training, saying numbers that were.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from omni.data.corpus.schema import make_example
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import ESPEAK_LICENSE, ESPEAK_PACKAGES
from omni.data.corpus.speech import LICENSE as FLITE_LICENSE
from omni.data.corpus.speech import PACKAGES as FLITE_PACKAGES

NAME = "numbers"
VERSION = 1
LICENSE = f"generated text (public domain); {FLITE_LICENSE}; {ESPEAK_LICENSE}"
PACKAGES = (*FLITE_PACKAGES, *ESPEAK_PACKAGES)
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
ESPEAK_VOICES = ("en-us", "en-us+f2", "en-us+m3", "en-us+f4", "en-us+klatt", "en-gb-scotland+m1")
VOICES = tuple(f"flite:{v}" for v in FLITE_VOICES) + tuple(f"espeak-ng:{v}" for v in ESPEAK_VOICES)
HELDOUT_VOICES = ("flite:awb", "espeak-ng:en-us+f2")  # one per synthesizer, never trained on
FORMS = ("words", "numeral")

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
VOCABULARY = (*_ONES, *_TENS[2:], "hundred")  # every word number_words can say (the recogniser's grammar)


def number_words(n: int) -> str:
    """0..999 in English words without "and" or hyphens: 328 -> "three hundred twenty eight"."""
    if not 0 <= n <= 999 or int(n) != n:
        raise ValueError(f"number_words needs an integer in 0..999, got {n!r}")
    n = int(n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    rest = n % 100
    return f"{_ONES[n // 100]} hundred" + ("" if rest == 0 else " " + number_words(rest))


def numerals_to_words(text: str) -> str:
    """Every run of digits (0..999) spelled out, so "73" and "seventy three" score alike: the WER normaliser."""
    def spell(m: re.Match) -> str:
        v = int(m.group())
        return f" {number_words(v)} " if v <= 999 else m.group()
    return re.sub(r"\d+", spell, str(text))


def settings(cfg) -> dict:
    return {"max": cfg.numbers_max, "voices": VOICES, "heldout": HELDOUT_VOICES}


def item_of(voice: str) -> str:
    """The item key of all utterances of one voice: its split is deliberate (held-out voices -> validation)."""
    return f"{NAME}/{voice}@{'validation' if voice in HELDOUT_VOICES else 'train'}"


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=15)
def candidates(ctx: Context) -> Iterator[Candidate]:
    for voice in VOICES:
        engine, name = voice.split(":", 1)
        speaker = ctx.get_speaker() if engine == "flite" else ctx.get_espeak()
        for n in range(ctx.cfg.numbers_max + 1):
            def make(n=n, voice=voice, name=name, speaker=speaker):
                said = number_words(n)
                audio = speaker.say(said, ctx.spec, name)
                label = {"probe": NAME, "number": n, "words": said, "voice": voice, "speech": voice}
                return [make_example(id=f"{NAME}/{voice}/{n}/{form}", source=NAME, item=item_of(voice),
                                     text=said if form == "words" else str(n), audio=audio,
                                     label={**label, "form": form}) for form in FORMS]

            yield Candidate(f"{voice} saying {n}", make)
