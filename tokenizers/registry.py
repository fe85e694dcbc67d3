"""Finds a saved tokenizer's class from its config.json "kind" and loads it.

`TOKENIZERS` (an `omni.registry.Registry`) maps kind -> Tokenizer class. A class registers itself where it
is defined (`@TOKENIZERS.register("image_conv")` on `class ImageTokenizer`, whose `kind` is the same string);
`modules` names the module of each kind, imported on first use, so loading a text tokenizer never imports
the audio codec. Adding a tokenizer class is one decorated definition plus its entry in `modules`.
"""
from __future__ import annotations

import pathlib

from omni_tokenizers.core.base import MODALITIES, Tokenizer, read_config

from omni.registry import Registry

TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer kind", package="omni_tokenizers", modules={
    "text_sentencepiece": "text.tokenizer",
    "image_conv": "image.tokenizer",
    "video_causal": "video.tokenizer",
    "audio_rvq": "audio.tokenizer",
})


def tokenizer_class(kind: str) -> type[Tokenizer]:
    """The class registered for `kind` (imports its module on first use)."""
    cls = TOKENIZERS.get(kind)
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)) or cls.kind != kind:
        raise ValueError(f"{cls!r} registered for {kind!r} is not a Tokenizer subclass of that kind")
    return cls


def load_tokenizer(directory: str | pathlib.Path) -> Tokenizer:
    """Loads whichever tokenizer `directory` holds (dispatch on config.json "kind")."""
    payload = read_config(directory)
    return tokenizer_class(payload["kind"]).load(directory)


def load_all(root: str | pathlib.Path) -> dict[str, Tokenizer]:
    """Loads root/{text,image,audio,video} for the subfolders that hold a tokenizer."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ValueError(f"tokenizer root {root} does not exist; expected a folder with "
                         f"subfolders among {MODALITIES}")
    out: dict[str, Tokenizer] = {}
    for m in MODALITIES:
        d = root / m
        if (d / "config.json").is_file():
            tok = load_tokenizer(d)
            if tok.modality != m:
                raise ValueError(f"{d} holds a {tok.modality!r} tokenizer, expected {m!r}")
            out[m] = tok
    return out
