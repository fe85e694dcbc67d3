"""Finds a saved tokenizer's class from its config.json "kind" and loads it.

`KINDS` maps kind -> "module:Class", imported lazily so loading a text tokenizer never imports the
audio codec. Adding a tokenizer class is one line here.
"""
from __future__ import annotations

import importlib
import pathlib

from omni_tokenizers.base import MODALITIES, Tokenizer, read_config

KINDS: dict[str, str] = {
    "text_sentencepiece": "omni_tokenizers.text:TextTokenizer",
    "image_conv": "omni_tokenizers.image:ImageTokenizer",
    "video_causal": "omni_tokenizers.video:VideoTokenizer",
    "audio_rvq": "omni_tokenizers.audio:AudioTokenizer",
}


def tokenizer_class(kind: str) -> type[Tokenizer]:
    """The class registered for `kind` (imports its module on first use)."""
    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; registered kinds: {sorted(KINDS)}")
    module_name, cls_name = KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
        raise ValueError(f"{KINDS[kind]} registered for {kind!r} is not a Tokenizer subclass")
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
