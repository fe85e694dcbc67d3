"""Capability probes: three families where held-out generalisation is possible with little compute, each in both
directions, each judged by a measure that is not the model.

    numbers  spoken numbers by held-out voices        audio->text: WER to the reference words
                                                      text->audio: PocketSphinx's WER on the generated speech
    motion   clips of held-out objects/backgrounds    video->text: the direction word of the caption vs the label
                                                      text->video: the frame-motion measure (omni/eval/motion.py)
    colour   held-out stamps on a grey card           image->text: the colour word of the caption vs the label
                                                      text->image: the generated picture's colour from its pixels

A probe is one decorated definition in the `PROBES` registry; its metadata is what the report states:

    @PROBES.register("numbers audio->text", direction="audio->text", heldout="numbers", metric="word error rate",
                     judge="...", higher_is_better=False)
    def numbers_audio_to_text(lm, examples, opts) -> (value, samples)

Each sample carries its "score", [numerator, denominator] of the probe's value (an accuracy's [right, 1], a WER's
[word edits, reference words]), from which the report bootstraps the value's 95% interval (`metrics.ratio_ci`).

Each has a model-free `baseline` (the majority answer) and `ceiling` (the judge on the real held-out media, or 1.0
where the label is the judge's own answer by construction, which the ceiling's kind then says), and a
`tokenizer_ceiling`: the same judge on the tokenizer's round trip (encode -> decode) of the real held-out media,
what a perfect MoT could score through the bundle's tokenizer (generated media are decoded by it; a label the
round trip loses is hard to read from the tokens too).
Numbers are scored in words: "73" and "seventy three" are the same answer (numbers.numerals_to_words on both sides).
"""
from __future__ import annotations

import numpy as np

from omni.data.corpus.numbers import VOCABULARY, numerals_to_words
from omni.eval import judges, metrics
from omni.eval.generate import GenOptions, generate, item
from omni.eval.heldout import label_of
from omni.eval.motion import direction_in_text, motion_direction
from omni.registry import Registry
from omni.sampling.prompt import Audio, prepare_audio, prepare_image, prepare_video

# probe -> runner(lm, examples, opts) -> (value, samples); metadata: direction, heldout, metric, judge,
# higher_is_better
PROBES: Registry = Registry("capability probe")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")


def spec(probe: str) -> dict:
    return PROBES.meta(probe)


def said(example) -> str:
    """The words a numbers example speaks (its label's number words)."""
    return label_of(example)["words"]


def number_wer(references: list[str], hypotheses: list[str]) -> float:
    """WER after spelling out numerals on both sides ("73" == "seventy three")."""
    return metrics.wer([numerals_to_words(r) for r in references], [numerals_to_words(h) for h in hypotheses])


def number_score(reference: str, hypothesis: str) -> list[int]:
    """One example's share of `number_wer`: [word edits, reference words] (the sample's "score")."""
    ref = metrics.words(numerals_to_words(reference))
    return [metrics.edit_distance(ref, metrics.words(numerals_to_words(hypothesis))), len(ref)]


def colour_in_text(text: str) -> str | None:
    """The first chromatic colour word of a caption ("an orange fox" -> 'orange'), or None."""
    for w in metrics.words(text):
        if w in COLOURS:
            return w
    return None


@PROBES.register("numbers audio->text", direction="audio->text", heldout="numbers", higher_is_better=False,
                 metric="word error rate on held-out voices (numerals spelled out)",
                 judge="the reference transcript (the exact words the synthesizer was given)")
def numbers_audio_to_text(lm, examples, opts: GenOptions):
    gens = generate(lm, [[item("audio", e["audio"])] for e in examples], "text", opts)
    hyps = [g.media for g in gens]
    samples = [{"prompt": e["audio"], "reference": said(e), "output": h, "voice": label_of(e)["voice"],
                "score": number_score(said(e), h)} for e, h in zip(examples, hyps)]
    return number_wer([said(e) for e in examples], hyps), samples


@PROBES.register("numbers text->audio", direction="text->audio", heldout="numbers", higher_is_better=False,
                 metric="word error rate of PocketSphinx's transcript of the generated speech",
                 judge="PocketSphinx (judges.transcribe) restricted to number words, an off-the-shelf recogniser")
def numbers_text_to_audio(lm, examples, opts: GenOptions):
    gens = generate(lm, [[e["text"]] for e in examples], "audio", opts)
    heard = [judges.transcribe(g.media, g.sample_rate or 16000, vocabulary=VOCABULARY) for g in gens]
    samples = [{"prompt": e["text"], "reference": e["audio"], "output": g.media, "sample_rate": g.sample_rate,
                "transcript": h, "score": number_score(said(e), h)} for e, g, h in zip(examples, gens, heard)]
    return number_wer([said(e) for e in examples], heard), samples


def label_read_from_text(lm, examples, opts: GenOptions, medium: str, key: str, read):
    """medium -> text: the fraction of captions whose word `read(caption)` equals the label's `key`."""
    gens = generate(lm, [[item(medium, e[medium])] for e in examples], "text", opts)
    hyps = [g.media for g in gens]
    right = [int(read(h) == label_of(e)[key]) for e, h in zip(examples, hyps)]
    return metrics.mean(right), [{"prompt": e[medium], "reference": e["text"], "output": h, "score": [r, 1]}
                                 for e, h, r in zip(examples, hyps, right)]


def label_measured_from_media(lm, examples, opts: GenOptions, medium: str, key: str, measure):
    """text -> medium: the fraction of generated media whose `measure(media)` equals the label's `key`."""
    gens = generate(lm, [[e["text"]] for e in examples], medium, opts)
    measured = [measure(g.media) for g in gens]
    right = [int(m == label_of(e)[key]) for e, m in zip(examples, measured)]
    return metrics.mean(right), [{"prompt": e["text"], "reference": e[medium], "output": g.media, "measured": m,
                                  "score": [r, 1]} for e, g, m, r in zip(examples, gens, measured, right)]


@PROBES.register("motion video->text", direction="video->text", heldout="motion", higher_is_better=True,
                 metric="motion direction accuracy (held-out objects and backgrounds)",
                 judge="the direction the clip was rendered with (its label) vs the caption's direction word")
def motion_video_to_text(lm, examples, opts: GenOptions):
    return label_read_from_text(lm, examples, opts, "video", "motion", direction_in_text)


@PROBES.register("motion text->video", direction="text->video", heldout="motion", higher_is_better=True,
                 metric="motion direction accuracy measured from the generated frames",
                 judge="frame-difference motion measure (omni/eval/motion.py)")
def motion_text_to_video(lm, examples, opts: GenOptions):
    return label_measured_from_media(lm, examples, opts, "video", "motion", motion_direction)


@PROBES.register("colour image->text", direction="image->text", heldout="colour", higher_is_better=True,
                 metric="colour word accuracy (held-out objects)",
                 judge="the colour measured from the real picture's pixels (judges.colour_name, the label)")
def colour_image_to_text(lm, examples, opts: GenOptions):
    return label_read_from_text(lm, examples, opts, "image", "colour", colour_in_text)


@PROBES.register("colour text->image", direction="text->image", heldout="colour", higher_is_better=True,
                 metric="colour accuracy of the generated picture (measured from its pixels)",
                 judge="judges.colour_name on the generated pixels")
def colour_text_to_image(lm, examples, opts: GenOptions):
    return label_measured_from_media(lm, examples, opts, "image", "colour", judges.colour_name)


def baseline(probe: str, examples) -> tuple[float, str]:
    """The majority answer's figure on the probe's held-out set (no model)."""
    fam = probe.split()[0]
    if fam == "numbers":
        refs = [said(e) for e in examples]
        guess = metrics.majority_text(refs)
        return number_wer(refs, [guess] * len(refs)), f"always the most common number ({guess!r})"
    key = {"motion": "motion", "colour": "colour"}[fam]
    top, acc = metrics.majority([label_of(e)[key] for e in examples])
    return acc, f"always the most common {'direction' if fam == 'motion' else 'colour'} ({top!r})"


def ceiling(probe: str, examples) -> tuple[float, str]:
    """The judge on the real held-out media: what a perfect model could score under this judge."""
    if probe.startswith("numbers "):
        heard = [judges.transcribe(e["audio"], 16000, vocabulary=VOCABULARY) for e in examples]
        return number_wer([said(e) for e in examples], heard), "PocketSphinx (number words) on the real held-out speech"
    if probe == "motion text->video":
        acc = metrics.mean(motion_direction(e["video"]) == label_of(e)["motion"] for e in examples)
        return acc, "the frame-motion measure on the real held-out clips"
    if probe == "colour text->image":
        acc = metrics.mean(judges.colour_name(e["image"]) == label_of(e)["colour"] for e in examples)
        return acc, "judges.colour_name on the real held-out pictures (whole card) vs the label (opaque pixels)"
    if probe in ("motion video->text", "colour image->text"):
        return 1.0, "1.0 by construction: the label is the judge's answer for the real medium"
    raise ValueError(f"no ceiling for probe {probe!r}; expected one of {PROBES.names()}")


def round_trip(lm, modality: str, media):
    """(the medium as the model's tokenizer takes it, its reconstruction after encode -> decode) for one held-out
    image [H, W, 3], clip [F, H, W, 3] or 16 kHz waveform, at the bundle's sizes and audio levels."""
    tok, spec = lm.tokenizers[modality], lm.spec
    if modality == "image":
        x = prepare_image(media, spec)
        return x, np.asarray(tok.decode(tok.encode(x[None])))[0]
    if modality == "video":
        x = prepare_video(media, spec)
        return x, np.asarray(tok.decode_like(tok.encode(x[None]), x.shape))[0]
    if modality == "audio":
        k = spec.audio_quantizers
        x = prepare_audio(Audio(media, 16000), spec)
        codes = np.asarray(tok.encode(x[None], sample_rate=spec.sample_rate, num_quantizers=k))
        return x, np.asarray(tok.decode(codes.reshape(1, -1), num_quantizers=k))[0]
    raise ValueError(f"no round trip for {modality!r}; expected image, video or audio")


def tokenizer_ceiling(probe: str, examples, lm) -> tuple[float, str]:
    """The probe's judge on the tokenizer's round trip of the real held-out media (both directions of a family
    share it): what a perfect model could score through this tokenizer."""
    fam = probe.split()[0]
    if fam == "numbers":
        sr = lm.spec.sample_rate
        heard = [judges.transcribe(round_trip(lm, "audio", e["audio"])[1], sr, vocabulary=VOCABULARY)
                 for e in examples]
        return number_wer([said(e) for e in examples], heard), \
            "PocketSphinx (number words) on the audio tokenizer's reconstruction of the real held-out speech"
    if fam == "motion":
        acc = metrics.mean(motion_direction(round_trip(lm, "video", e["video"])[1]) == label_of(e)["motion"]
                           for e in examples)
        return acc, "the frame-motion measure on the video tokenizer's reconstruction of the real held-out clips"
    if fam == "colour":
        acc = metrics.mean(judges.colour_name(round_trip(lm, "image", e["image"])[1]) == label_of(e)["colour"]
                           for e in examples)
        return acc, "judges.colour_name on the image tokenizer's reconstruction of the real held-out pictures"
    raise ValueError(f"no tokenizer ceiling for probe {probe!r}; expected one of {PROBES.names()}")
