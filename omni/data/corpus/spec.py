"""Media shapes of the corpus (`MediaSpec`) and of one build (`CorpusConfig`), as typed dataclasses."""
from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class MediaSpec:
    """Every example's media is converted to these shapes: square RGB images, mono audio, RGB clips."""

    image_size: int = 64
    video_frames: int = 9
    video_size: int = 32
    sample_rate: int = 16000
    max_audio_s: float = 4.0
    min_audio_s: float = 0.15
    min_image_side: int = 16  # smaller source images are skipped, not upscaled from nothing
    max_image_side: int = 8192  # larger ones are refused before decoding (decompression bombs)
    min_sample_rate: int = 8000
    max_sample_rate: int = 96000

    def validate(self):
        for k in ("image_size", "video_frames", "video_size", "sample_rate"):
            if getattr(self, k) <= 0:
                raise ValueError(f"MediaSpec.{k} must be > 0, got {getattr(self, k)}")
        if not 0 < self.min_audio_s < self.max_audio_s:
            raise ValueError(f"MediaSpec needs 0 < min_audio_s < max_audio_s, got "
                             f"{self.min_audio_s}, {self.max_audio_s}")

    @property
    def max_audio_samples(self) -> int:
        return int(round(self.max_audio_s * self.sample_rate))


def media_shapes(spec: MediaSpec | None = None) -> dict[str, tuple[int, ...]]:
    """Item shapes the image and video tokenizers are fed (the corpus MediaSpec)."""
    s = MediaSpec() if spec is None else spec
    return {"image": (s.image_size, s.image_size, 3), "video": (s.video_frames, s.video_size, s.video_size, 3)}


@dataclasses.dataclass
class CorpusConfig:
    """One build: where to write, where to cache, which sources, how many items of each."""

    out: pathlib.Path = pathlib.Path("runs/demo/corpus")
    cache: pathlib.Path = pathlib.Path("cache")
    media: MediaSpec = dataclasses.field(default_factory=MediaSpec)
    sources: tuple[str, ...] = ()  # empty = every registered source
    # Per-source caps (0 = no cap); keep the demo build within minutes on 2 cores.
    max_bible_passages: int = 3000
    max_bible_speech: int = 400
    motion_clips: int = 1000
    panzoom_clips: int = 120
    numbers_max: int = 99  # spoken numbers 0..numbers_max (at most 999), by every voice of numbers.VOICES
    colour_min_share: float = 0.5  # a stamp's colour word must cover this share of its chromatic pixels
    colour_views: int = 3  # placements of each colour stamp on its card (1..4)
    validation_per_mille: int = 100  # ~10% of items held out, chosen by a stable hash of `item`
    seed: int = 0
    workers: int = 2  # threads for speech synthesis subprocesses

    def validate(self):
        self.media.validate()
        if not 0 < self.validation_per_mille < 1000:
            raise ValueError(f"validation_per_mille must be in (0, 1000), got {self.validation_per_mille}")
        if not 0 <= self.numbers_max <= 999:
            raise ValueError(f"numbers_max must be in 0..999, got {self.numbers_max}")
        if not 1 <= self.colour_views <= 4:
            raise ValueError(f"colour_views must be in 1..4, got {self.colour_views}")
        if not 0 < self.colour_min_share <= 1:
            raise ValueError(f"colour_min_share must be in (0, 1], got {self.colour_min_share}")
