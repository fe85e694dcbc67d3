"""Spoken numbers: 0..`cfg.numbers_max` spoken by Debian's synthesizers (flite's voices, espeak-ng's voices and
variants), each utterance captioned twice: as number words ("seventy three") and as a numeral ("73").

Held-out generalisation is to new speakers: every utterance of the voices in `HELDOUT_VOICES` is in the validation
split and every other voice's in train (the item key ends in `@validation` / `@train`, see `schema.split_of`), so
the validation split holds only voices never heard in training, saying numbers that were.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from omni.data.corpus.audio import resample
from omni.data.corpus.schema import make_example
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import ESPEAK_LICENSE, ESPEAK_PACKAGES
from omni.data.corpus.speech import LICENSE as FLITE_LICENSE
from omni.data.corpus.speech import PACKAGES as FLITE_PACKAGES

NAME = "numbers"
VERSION = 2
LICENSE = f"generated text (public domain); {FLITE_LICENSE}; {ESPEAK_LICENSE}"
PACKAGES = (*FLITE_PACKAGES, *ESPEAK_PACKAGES)
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
HELDOUT_VOICES = ("flite:awb", "espeak-ng:en-us+f2")  # one per synthesizer, never trained on
# Held-out generalisation is to new speakers, so training wants many: espeak-ng's eight English accents, each
# with four of its voice variants (the variant sets pitch, formants, breathiness and speed), beside the six voices
# of the first version. No voice with the held-out `f2` variant trains, in any accent. With 8 training voices the
# demo config, trained on numbers alone, learnt the training voices' numbers (WER 0.02) and stopped at 0.53 on the
# held-out ones; with 40, the held-out espeak-ng voice fell from 0.26 to 0.07 (README, "Spoken numbers from 52 voices").
ESPEAK_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                  "en-us-nyc")
ESPEAK_VARIANTS = ("m1", "f1", "m2", "f3", "m4", "f5", "m5", "klatt2", "m6", "f4", "m7", "klatt3", "m8", "Andy",
                   "m3", "annie", "Gene", "klatt4", "Michael", "linda", "max", "steph", "edward", "klatt", "paul",
                   "belinda", "john", "grandma", "david", "adam", "Alex", "grandpa")
ESPEAK_VOICES = ("en-us", "en-us+f2", "en-us+m3", "en-us+f4", "en-us+klatt", "en-gb-scotland+m1",
                 *(f"{a}+{ESPEAK_VARIANTS[(4 * i + j) % len(ESPEAK_VARIANTS)]}" for i, a in enumerate(ESPEAK_ACCENTS)
                   for j in range(4)))
# flite's voices ignore pitch settings, so its training voices also speak at other speeds: "flite:rms*0.85" is rms
# resampled to 0.85x speed (longer, lower; Kaldi's speed perturbation), a new voice for the model's ear.
FLITE_SPEEDS = (0.85, 0.92, 1.08, 1.15)
VOICES = (tuple(f"flite:{v}" for v in FLITE_VOICES) + tuple(f"espeak-ng:{v}" for v in ESPEAK_VOICES)
          + tuple(f"flite:{v}*{a}" for v in FLITE_VOICES if f"flite:{v}" not in HELDOUT_VOICES for a in FLITE_SPEEDS))
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


def speed_of(name: str) -> tuple[str, float]:
    """ "rms*0.85" -> ("rms", 0.85); a name without a factor speaks at 1.0."""
    base, _, factor = name.partition("*")
    return base, float(factor) if factor else 1.0


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
                base, speed = speed_of(name)
                audio = speaker.say(said, ctx.spec, base)
                if speed != 1.0:  # played `speed` times as fast: tempo and pitch scale together
                    audio = np.clip(resample(audio, round(ctx.spec.sample_rate * speed), ctx.spec.sample_rate), -1, 1)
                label = {"probe": NAME, "number": n, "words": said, "voice": voice, "speech": voice}
                return [make_example(id=f"{NAME}/{voice}/{n}/{form}", source=NAME, item=item_of(voice),
                                     text=said if form == "words" else str(n), audio=audio,
                                     label={**label, "form": form}) for form in FORMS]

            yield Candidate(f"{voice} saying {n}", make)
