"""Batched generation for evaluation: fixed batch shapes (so programs compile once).

Text outputs (captions, transcripts) are decoded greedily by default; image, audio and video outputs are
sampled (temperature 1, nucleus 0.9, classifier-free guidance 5, fixed seed), since greedy decoding of media
tokens collapses to the most frequent code (a blank image, silence) rather than showing what the model has
learned; pictures are drawn 4 times per prompt and the one the model reads its prompt back from best is kept
(`candidates`, omni.sampling.score).
"""
from __future__ import annotations

import dataclasses

import numpy as np

import omni
from omni.sampling.prompt import Audio, Tokens, Video


@dataclasses.dataclass(frozen=True)
class GenOptions:
    temperature: float = 0.0        # text outputs; 0 = greedy
    media_temperature: float = 1.0  # image / audio / video outputs
    media_top_p: float = 0.9
    # classifier-free guidance of image / audio / video outputs (1 = none); 5 since the fourteenth session: over the
    # seeds study's three demo runs colour text->image 0.290 -> 0.507, numbers text->audio WER 1.44 -> 1.30, motion
    # text->video 0.220 -> 0.233 (docs/eval.md)
    media_guidance: float = 5.0
    # audio outputs' own settings (None: the media ones above)
    audio_temperature: float | None = None
    audio_guidance: float | None = None
    seed: int = 0
    batch: int = 16                 # rows per generate call; short batches are padded to this
    max_text_tokens: int = 32       # captions and transcripts are short
    max_audio_s: float | None = None  # None: the trained maximum
    # image / audio / video outputs: (modality, K): K samples per prompt, the best kept by the modality's `rerank`
    # (omni.sampling.score; a modality not named draws one). Pictures 4 by log p(prompt | picture) since the
    # twenty-fifth session: over two demo models (seeds 0 and 1, 23 held-out colour items) colour text->image
    # 0.560 -> 0.674 against the average candidate; speech by its own log-probability gained as much (numbers
    # text->audio WER 1.234 -> 1.076 over 100 voices x 2 seeds) but costs the demo ~4 minutes, and clips moved
    # within noise (README, "Reranking candidates")
    candidates: tuple[tuple[str, int], ...] = (("image", 4),)
    rerank: tuple[tuple[str, str], ...] = (("image", "reverse"), ("audio", "forward"), ("video", "reverse"))

    def candidates_for(self, modality: str) -> int:
        return dict(self.candidates).get(modality, 1)

    def rerank_for(self, modality: str) -> str:
        return dict(self.rerank).get(modality, "reverse")


def item(modality: str, media):
    """A corpus field -> a prompt item (image uint8 [H, W, 3], audio float32 [T] at 16 kHz, video [T, H, W, 3])."""
    if modality == "text":
        return str(media)
    if modality == "image":
        return np.asarray(media)
    if modality == "audio":
        if isinstance(media, Tokens):
            return media
        return Audio(np.asarray(media, np.float32), 16000)
    if modality == "video":
        return Video(np.asarray(media))
    raise ValueError(f"unknown modality {modality!r}")


def generate(lm, prompts: list[list], to: str, opts: GenOptions) -> list:
    """prompts: [[item, ...], ...] -> one `Generated` per prompt (media decoded)."""
    if not prompts:
        return []
    out = []
    kwargs = {}
    if to == "text":
        kwargs["max_new_tokens"] = opts.max_text_tokens
    if to == "audio" and opts.max_audio_s is not None:
        kwargs["max_seconds"] = opts.max_audio_s
    if to == "text":
        kwargs["temperature"] = opts.temperature
    else:
        kwargs.update(temperature=opts.media_temperature, top_p=opts.media_top_p, guidance=opts.media_guidance,
                      candidates=opts.candidates_for(to), rerank=opts.rerank_for(to))
        if to == "audio":
            kwargs.update(temperature=first_set(opts.audio_temperature, opts.media_temperature),
                          guidance=first_set(opts.audio_guidance, opts.media_guidance))
    for s in range(0, len(prompts), opts.batch):
        chunk = prompts[s:s + opts.batch]
        padded = chunk + [chunk[-1]] * (opts.batch - len(chunk))
        res = omni.sample(lm, padded, to=to, seed=opts.seed + s, **kwargs)
        out.extend(r.outputs[-1] for r in res[:len(chunk)])
    return out


def first_set(value, default):
    """`value` unless it is None."""
    return default if value is None else value


def audio_tokens(generated) -> Tokens:
    """A generated audio output as a prompt item (its codes, [levels, frames]) for transcription."""
    return Tokens("audio", np.asarray(generated.tokens))
