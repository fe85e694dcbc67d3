"""Modality registry: the one place that says which modalities exist and their integer ids.

Adding a modality is one `register` call (or one entry in `DEFAULT_MODALITIES`); the model,
vocabulary and data pipeline size themselves from `names()`.
"""
from __future__ import annotations

DEFAULT_MODALITIES: tuple[str, ...] = ("text", "image", "audio", "video")

_REGISTRY: list[str] = list(DEFAULT_MODALITIES)


def register(name: str) -> int:
    """Registers a new modality (idempotent) and returns its id."""
    if not name or not name.isidentifier():
        raise ValueError(f"modality name must be a Python identifier, got {name!r}")
    if name not in _REGISTRY:
        _REGISTRY.append(name)
    return _REGISTRY.index(name)


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def modality_id(name: str) -> int:
    try:
        return _REGISTRY.index(name)
    except ValueError:
        raise ValueError(f"unknown modality {name!r}; expected one of {names()}") from None


def modality_name(mid: int) -> str:
    if not 0 <= mid < len(_REGISTRY):
        raise ValueError(f"modality id {mid} out of range [0, {len(_REGISTRY)})")
    return _REGISTRY[mid]


TEXT = modality_id("text")
IMAGE = modality_id("image")
AUDIO = modality_id("audio")
VIDEO = modality_id("video")
