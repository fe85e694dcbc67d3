"""Generation metrics per task direction on held-out examples; each returns (value, extras, samples).

A direction is one decorated definition in the `DIRECTIONS` registry, its metadata what the report states:

    @DIRECTIONS.register("image->text", metric="caption token-F1", heldout="captioned", higher_is_better=True)
    def image_to_text(lm, examples, opts): ...

The value is the direction's headline metric for one model; baselines that need no model are in
`baselines`. Samples keep what the report shows (prompts, references, outputs). `also` names further headline
figures of the same generations ({report key: metric}), e.g. the object accuracy of video->text.
"""
from __future__ import annotations

import numpy as np

from omni.eval import judges, metrics
from omni.eval.features import image_features, standardize, to_float01
from omni.eval.generate import GenOptions, generate, item
from omni.eval.heldout import label_of
from omni.eval.motion import direction_in_text, motion_direction
from omni.registry import Registry

# direction -> runner(lm, examples, opts) -> (value, extras, samples); metadata: metric, heldout (the held-out
# set), higher_is_better, also. Registration order is evaluation order (text->audio reads audio->text's result).
DIRECTIONS: Registry = Registry("eval direction")


def spec(direction: str) -> tuple[str, str, bool]:
    """(metric name, held-out set, higher is better) of a direction."""
    m = DIRECTIONS.meta(direction)
    return m["metric"], m["heldout"], m["higher_is_better"]


@DIRECTIONS.register("image->text", metric="caption token-F1", heldout="captioned", higher_is_better=True)
def image_to_text(lm, examples, opts: GenOptions):
    gens = generate(lm, [[item("image", e["image"])] for e in examples], "text", opts)
    hyps = [g.media for g in gens]
    f1 = [metrics.token_f1(e["text"], h) for e, h in zip(examples, hyps)]
    exact = metrics.mean(metrics.exact_match(e["text"], h) for e, h in zip(examples, hyps))
    samples = [{"prompt": e["image"], "reference": e["text"], "output": h} for e, h in zip(examples, hyps)]
    return metrics.mean(f1), {"exact_match": exact}, samples


@DIRECTIONS.register("text->image", metric="retrieval accuracy (nearest real item, pixel statistics)",
                     heldout="captioned", higher_is_better=True)
def text_to_image(lm, examples, opts: GenOptions):
    gens = generate(lm, [[e["text"]] for e in examples], "image", opts)
    images = np.stack([to_float01(g.media) for g in gens])
    real = np.stack([to_float01(e["image"]) for e in examples])
    q, bank = standardize(image_features(images), image_features(real))
    acc = metrics.retrieval_accuracy(q, bank, np.arange(len(examples)))
    samples = [{"prompt": e["text"], "reference": r, "output": g} for e, r, g in zip(examples, real, images)]
    return acc, {"candidates": len(examples)}, samples


@DIRECTIONS.register("audio->text", metric="word error rate", heldout="speech", higher_is_better=False)
def audio_to_text(lm, examples, opts: GenOptions):
    gens = generate(lm, [[item("audio", e["audio"])] for e in examples], "text", opts)
    hyps = [g.media for g in gens]
    samples = [{"prompt": e["audio"], "reference": e["text"], "output": h} for e, h in zip(examples, hyps)]
    return metrics.wer([e["text"] for e in examples], hyps), {}, samples


@DIRECTIONS.register("text->audio", metric="word error rate of PocketSphinx's transcript of the generated speech",
                     heldout="speech", higher_is_better=False)
def text_to_audio(lm, examples, opts: GenOptions):
    """Speak each transcript, then transcribe the generated speech with an off-the-shelf recogniser (PocketSphinx,
    judges.transcribe), never the model itself; WER to the text."""
    gens = generate(lm, [[e["text"]] for e in examples], "audio", opts)
    hyps = [judges.transcribe(g.media, g.sample_rate or 16000) for g in gens]
    seconds = [0.0 if g.media is None else len(g.media) / (g.sample_rate or 16000) for g in gens]
    samples = [{"prompt": e["text"], "reference": e["text"], "output": g.media, "transcript": h,
                "sample_rate": g.sample_rate} for e, g, h in zip(examples, gens, hyps)]
    return (metrics.wer([e["text"] for e in examples], hyps), {"mean_seconds": metrics.mean(seconds)}, samples)


@DIRECTIONS.register("video->text", metric="motion direction accuracy", heldout="motion", higher_is_better=True,
                     also={"video->text/object": "object accuracy"})
def video_to_text(lm, examples, opts: GenOptions):
    """-> motion accuracy; extras hold the object accuracy (label object words all in the caption)."""
    gens = generate(lm, [[item("video", e["video"])] for e in examples], "text", opts)
    hyps = [g.media for g in gens]
    labels = [label_of(e) for e in examples]
    motion = metrics.mean(direction_in_text(h) == lab["motion"] for h, lab in zip(hyps, labels))
    obj = metrics.mean(object_named(lab["object"], h) for h, lab in zip(hyps, labels))
    samples = [{"prompt": e["video"], "reference": e["text"], "output": h} for e, h in zip(examples, hyps)]
    return motion, {"object_accuracy": obj}, samples


@DIRECTIONS.register("text->video", metric="motion direction accuracy (measured from frames)", heldout="motion",
                     higher_is_better=True)
def text_to_video(lm, examples, opts: GenOptions):
    gens = generate(lm, [[e["text"]] for e in examples], "video", opts)
    labels = [label_of(e)["motion"] for e in examples]
    measured = [motion_direction(g.media) for g in gens]
    acc = metrics.mean(m == lab for m, lab in zip(measured, labels))
    samples = [{"prompt": e["text"], "reference": e["video"], "output": g.media, "measured": m}
               for e, g, m in zip(examples, gens, measured)]
    return acc, {"measured": measured}, samples


def object_named(obj: str, text: str) -> bool:
    """Whether every word of the label's object name occurs in the text ("red fox" in "A red fox ...")."""
    want = metrics.words(obj)
    have = set(metrics.words(text))
    return bool(want) and all(w in have for w in want)


def baselines(direction: str, examples) -> tuple[float, str, dict]:
    """(value, what it is, extras) of the model-free baseline of a direction on its held-out set."""
    texts = [e["text"] for e in examples]
    if direction == "image->text":
        guess = metrics.majority_text(texts)
        return (metrics.mean(metrics.token_f1(t, guess) for t in texts),
                f"always the most common caption ({guess!r})", {})
    if direction == "text->image":
        return 1.0 / len(examples), f"chance (1 of {len(examples)} items)", {}
    if direction in ("audio->text", "text->audio"):
        guess = metrics.majority_text(texts)
        return metrics.wer(texts, [guess] * len(texts)), f"always the most common transcript ({guess!r})", {}
    labels = [label_of(e) for e in examples]
    if direction in ("video->text", "text->video"):
        top, acc = metrics.majority([lab["motion"] for lab in labels])
        extras = {}
        if direction == "video->text":
            obj, oacc = metrics.majority([lab["object"] for lab in labels])
            extras = {"object_accuracy": oacc, "object_guess": obj}
        return acc, f"always the most common direction ({top!r})", extras
    raise ValueError(f"no baseline for direction {direction!r}")


def real_reference(direction: str, examples) -> tuple[float, str] | None:
    """A model-free reference where one exists: the frame-based motion measure on the real clips; PocketSphinx on
    the real held-out speech (the judge's own error on real speech: what a perfect speaker could score)."""
    if direction == "text->video":
        acc = metrics.mean(motion_direction(e["video"]) == label_of(e)["motion"] for e in examples)
        return acc, "the frame-based measure on the real held-out clips"
    if direction == "text->audio":
        heard = [judges.transcribe(e["audio"], 16000) for e in examples]
        return metrics.wer([e["text"] for e in examples], heard), "PocketSphinx on the real held-out speech"
    return None
