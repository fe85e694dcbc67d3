"""Synthetic token examples with learnable structure, made in microseconds (tests, configs/tiny.py).

Each example looks like a decoded token-shard record (local ids): a "caption" from a small bigram
grammar, and media whose codes are deterministic functions of the caption — the image is an
arithmetic progression started by word 0 with a step set by word 1, the audio "speaks" each word as
two frames, the video is a progression per frame — so every cross-modal task is learnable and a
model's loss visibly falls. Example i of a (seed, split) is the same on every call.
"""
from __future__ import annotations

import numpy as np

from omni.vocab import UnifiedVocab

IMAGE_TOKENS = 16
VIDEO_FRAMES, VIDEO_TOKENS_PER_FRAME = 3, 4
FRAMES_PER_WORD = 2
PRESENCE = {"image": 0.6, "audio": 0.4, "video": 0.3}
TEXT_PROB = 0.9
SPLIT_SEEDS = {"train": 0, "validation": 1}


class SyntheticSource:
    """Random-access synthetic examples: {"id", "source", "text", "image", "audio" [k, F], "video"}."""

    def __init__(self, vocab: UnifiedVocab, num_examples: int, *, split: str = "train", seed: int = 0,
                 audio_quantizers: int = 2):
        if split not in SPLIT_SEEDS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_SEEDS)}")
        if num_examples <= 0:
            raise ValueError(f"num_examples must be > 0, got {num_examples}")
        for m in ("text", "image", "audio", "video"):
            if m not in vocab.modalities:
                raise ValueError(f"the synthetic source needs a vocabulary with {m}; has {vocab.modalities}")
        if vocab.num_codes("audio") < 2 * audio_quantizers:
            raise ValueError(f"vocab.audio ({vocab.num_codes('audio')}) must hold >= 2 codes for each of "
                             f"{audio_quantizers} levels")
        self.n, self.split, self.seed, self.k = num_examples, split, seed, audio_quantizers
        self.words = min(64, vocab.num_codes("text"))
        self.image_codes = vocab.num_codes("image")
        self.video_codes = vocab.num_codes("video")
        self.codebook = vocab.num_codes("audio") // audio_quantizers
        self.fixed_lengths = {"image": IMAGE_TOKENS, "video": VIDEO_FRAMES * VIDEO_TOKENS_PER_FRAME}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} synthetic examples")
        rng = np.random.default_rng([self.seed, SPLIT_SEEDS[self.split], index])
        caption = self.caption(rng)
        ex = {"id": f"synthetic-{self.split}-{index}", "source": "synthetic"}
        has = {m: rng.random() < p for m, p in PRESENCE.items()}
        if rng.random() < TEXT_PROB or not any(has.values()):
            ex["text"] = caption
        if has["image"]:
            ex["image"] = self.image(caption)
        if has["audio"]:
            ex["audio"] = self.audio(caption)
        if has["video"]:
            ex["video"] = self.video(caption)
        return ex

    def caption(self, rng: np.random.Generator) -> np.ndarray:
        """3..8 words; the next word follows (5 * w + 3) mod W three times in four."""
        n = int(rng.integers(3, 9))
        w = [int(rng.integers(self.words))]
        for _ in range(n - 1):
            w.append((5 * w[-1] + 3) % self.words if rng.random() < 0.75 else int(rng.integers(self.words)))
        return np.array(w, np.int32)

    def image(self, caption: np.ndarray) -> np.ndarray:
        step = 1 + int(caption[1]) % 7
        return ((int(caption[0]) + step * np.arange(IMAGE_TOKENS)) % self.image_codes).astype(np.int32)

    def audio(self, caption: np.ndarray) -> np.ndarray:
        """[k, frames]: level l of frame f of word w is l * codebook + ((l + 1) * w + f) mod codebook."""
        w = np.repeat(caption.astype(np.int64), FRAMES_PER_WORD)
        f = np.tile(np.arange(FRAMES_PER_WORD), len(caption))
        levels = [lv * self.codebook + ((lv + 1) * w + f) % self.codebook for lv in range(self.k)]
        return np.stack(levels).astype(np.int32)

    def video(self, caption: np.ndarray) -> np.ndarray:
        step = 1 + int(caption[-1]) % 5
        t = np.arange(VIDEO_FRAMES)[:, None]
        i = np.arange(VIDEO_TOKENS_PER_FRAME)[None, :]
        return ((int(caption[0]) + step * t + i) % self.video_codes).reshape(-1).astype(np.int32)
