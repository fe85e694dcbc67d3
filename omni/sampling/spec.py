"""What a trained model expects of each modality at sampling time (shapes, token counts, audio layout).

Recorded in a bundle's manifest at export so `omni.sample` lays prompts and targets out as training did;
`trained_targets` / `trained_inputs` say which modalities the model may generate / be conditioned on.
"""
from __future__ import annotations

import dataclasses

from omni import modality as mod
from omni.data.corpus.spec import MediaSpec
from omni.data.synthetic import IMAGE_TOKENS, VIDEO_FRAMES, VIDEO_TOKENS_PER_FRAME
from omni.data.token_shards import read_meta

MODALITIES = mod.names()


@dataclasses.dataclass(frozen=True)
class SamplingSpec:
    """Per-modality layout; token counts are those of the training data (`fixed_lengths`)."""

    image_tokens: int = 64
    image_size: int = 64               # square RGB side the image tokenizer saw
    video_tokens: int = 48
    video_frames: int = 9
    video_size: int = 32
    video_fps: float = 8.0             # playback rate of written clips
    audio_quantizers: int = 2          # levels per frame in sequences (frame-major, tasks.audio_to_sequence)
    audio_codebook: int = 0            # codes per level: level l owns local ids [l*cb, (l+1)*cb); 0 = unknown
    audio_frame_rate: float = 50.0     # frames per second of the audio tokenizer
    sample_rate: int = 16000
    max_audio_s: float = 4.0
    text_max_tokens: int = 64          # default cap on generated text tokens
    trained_targets: tuple[str, ...] = MODALITIES
    trained_inputs: tuple[str, ...] = MODALITIES
    bidirectional_conditioning: bool = True

    def validate(self) -> SamplingSpec:
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
    def from_dict(cls, d: dict) -> SamplingSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown sampling spec keys {unknown}; expected some of {sorted(names)}")
        d = dict(d)
        for k in ("trained_targets", "trained_inputs"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d).validate()


def _fit_side(tok, fixed: int, side: int, shape) -> int:
    """The square side whose token count is `fixed` for this tokenizer (starting from `side`)."""
    n = tok.tokens_per_item(shape(side))
    if n == fixed:
        return side
    guess = int(round(side * (fixed / n) ** 0.5))
    if guess > 0 and tok.tokens_per_item(shape(guess)) == fixed:
        return guess
    raise ValueError(f"the {tok.modality} tokenizer makes {n} tokens of a {side}-pixel item, but the model was "
                     f"trained on {fixed} tokens per {tok.modality}; export with the tokenizers used for training")


def infer_spec(cfg, tokenizers: dict, *, text_max_tokens: int = 64) -> SamplingSpec:
    """The spec of a model trained with `cfg`: token counts from its data source, shapes from the corpus
    defaults fitted to the tokenizers, targets from the mixture's target weights."""
    media = MediaSpec()
    vocab = cfg.vocab.build()
    k = cfg.data.audio_quantizers
    if cfg.data.source == "synthetic":
        fixed = {"image": IMAGE_TOKENS, "video": VIDEO_FRAMES * VIDEO_TOKENS_PER_FRAME}
        codebook, present = vocab.num_codes("audio") // k, vocab.modalities
    else:
        meta = read_meta(cfg.data.token_dir)
        fixed = {m: int(n) for m, n in meta["fixed_lengths"].items()}
        codebook, present = int(meta["audio"].get("codebook_size", 0)), tuple(meta["codes"])
        media = dataclasses.replace(media, sample_rate=int(meta["audio"].get("sample_rate", media.sample_rate)))
    targets = tuple(m for m, w in cfg.data.target_weights if w > 0 and m in present and m in vocab.modalities)
    inputs = tuple(m for m in MODALITIES if m in present and m in vocab.modalities)
    image_size, video_size = media.image_size, media.video_size
    if "image" in tokenizers and "image" in fixed:
        image_size = _fit_side(tokenizers["image"], fixed["image"], image_size, lambda s: (s, s, 3))
    if "video" in tokenizers and "video" in fixed:
        f = media.video_frames
        video_size = _fit_side(tokenizers["video"], fixed["video"], video_size, lambda s: (f, s, s, 3))
    frame_rate = float(getattr(tokenizers.get("audio"), "frame_rate", 50.0))
    if "audio" in tokenizers:
        media = dataclasses.replace(media, sample_rate=int(tokenizers["audio"].sample_rate))
    return SamplingSpec(
        image_tokens=fixed.get("image", 64), image_size=image_size, video_tokens=fixed.get("video", 48),
        video_frames=media.video_frames, video_size=video_size, audio_quantizers=k, audio_codebook=codebook,
        audio_frame_rate=frame_rate, sample_rate=media.sample_rate, max_audio_s=media.max_audio_s,
        text_max_tokens=text_max_tokens, trained_targets=targets, trained_inputs=inputs,
        bidirectional_conditioning=cfg.data.bidirectional_conditioning).validate()
