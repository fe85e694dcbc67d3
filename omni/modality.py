"""The modalities: the one place that says which exist, their integer ids and their default codebook sizes.

A modality is one `register(name, codes=...)` entry below (its id is its position). Everything that lists
modalities reads them from here: the vocabulary config's fields (`vocab.<name>`, one per modality), the
unified vocabulary's ranges, the model's per-modality weights, the data pipeline's target weights and
feature mappings, the sampler. "text" is id 0 and the only modality whose tokens are not media codes.
"""
from __future__ import annotations

from omni.registry import Registry

MODALITIES: Registry[int] = Registry("modality")


def register(name: str, *, codes: int = 256, help: str = "") -> int:
    """Registers a modality (idempotent) with its default number of codes (`vocab.<name>`); returns its id."""
    if not name or not name.isidentifier():
        raise ValueError(f"modality name must be a Python identifier, got {name!r}")
    if name not in MODALITIES:
        MODALITIES.register(name, len(MODALITIES.names()), codes=int(codes), help=help)
    return MODALITIES.get(name)


register("text", codes=512, help="text vocabulary size (the SentencePiece model's)")
register("image", codes=256, help="codes of the image tokenizer's codebook")
register("audio", codes=256, help="codes of one level of the audio tokenizer's residual codebooks")
register("video", codes=256, help="codes of the video tokenizer's codebook")


def names() -> tuple[str, ...]:
    return MODALITIES.names()


def media() -> tuple[str, ...]:
    """The modalities whose tokens are media codes (all but text)."""
    return tuple(n for n in names() if n != "text")


def default_codes(name: str) -> int:
    return MODALITIES.meta(name)["codes"]


def modality_id(name: str) -> int:
    try:
        return MODALITIES.get(name)
    except ValueError:
        raise ValueError(f"unknown modality {name!r}; expected one of {names()}") from None


def modality_name(mid: int) -> str:
    all_names = names()
    if not 0 <= mid < len(all_names):
        raise ValueError(f"modality id {mid} out of range [0, {len(all_names)})")
    return all_names[mid]


TEXT = modality_id("text")
IMAGE = modality_id("image")
AUDIO = modality_id("audio")
VIDEO = modality_id("video")
