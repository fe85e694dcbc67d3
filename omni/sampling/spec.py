"""What a trained model expects of each modality at sampling time (shapes, token counts, audio layout).

Recorded in a bundle's manifest at export so `omni.sample` lays prompts and targets out as training did;
`trained_targets` / `trained_inputs` say which modalities the model may generate / be conditioned on.
"""
from __future__ import annotations

import dataclasses

from omni import modality as mod

MODALITIES = ("text", "image", "audio", "video")


@dataclasses.dataclass(frozen=True)
class SamplingSpec:
    """Per-modality layout; token counts are those of the training data (`fixed_lengths`)."""

    image_tokens: int = 64
    image_size: int = 64               # square RGB side the image tokenizer saw
    video_tokens: int = 48
    video_frames: int = 9
    video_size: int = 32
    audio_quantizers: int = 2          # levels per frame in sequences (frame-major, tasks.audio_to_sequence)
    audio_codebook: int = 0            # codes per level: level l owns local ids [l*cb, (l+1)*cb); 0 = unknown
    audio_frame_rate: float = 50.0     # frames per second of the audio tokenizer
    sample_rate: int = 16000
    max_audio_s: float = 4.0
    text_max_tokens: int = 64          # default cap on generated text tokens
    trained_targets: tuple[str, ...] = MODALITIES
    trained_inputs: tuple[str, ...] = MODALITIES
    bidirectional_conditioning: bool = True

    def validate(self) -> "SamplingSpec":
        for k in ("image_tokens", "image_size", "video_tokens", "video_frames", "video_size",
                  "audio_quantizers", "sample_rate", "text_max_tokens"):
            if int(getattr(self, k)) <= 0:
                raise ValueError(f"SamplingSpec.{k} must be > 0, got {getattr(self, k)}")
        if self.audio_codebook < 0 or self.audio_frame_rate <= 0 or self.max_audio_s <= 0:
            raise ValueError(f"SamplingSpec needs audio_codebook >= 0, audio_frame_rate > 0, max_audio_s > 0; "
                             f"got {self.audio_codebook}, {self.audio_frame_rate}, {self.max_audio_s}")
        for m in self.trained_targets + self.trained_inputs:
            mod.modality_id(m)
        if not self.trained_targets:
            raise ValueError("SamplingSpec.trained_targets is empty: the model can generate nothing")
        return self

    def fixed_tokens(self, modality: str) -> int:
        """Token count of one fixed-length item (image, video); 0 for variable-length modalities."""
        return {"image": self.image_tokens, "video": self.video_tokens}.get(modality, 0)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["trained_targets"], d["trained_inputs"] = list(self.trained_targets), list(self.trained_inputs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SamplingSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown sampling spec keys {unknown}; expected some of {sorted(names)}")
        d = dict(d)
        for k in ("trained_targets", "trained_inputs"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d).validate()
