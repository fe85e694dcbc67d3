"""Tokenizers trained by `make demo` (2 CPU cores, ~5 minutes each): `get_config(modality)`.

text: SentencePiece BPE 1024 pieces; image: 64x64 -> 8x8 tokens, FSQ 4096; video: 9x32x32 ->
3x8x8 = 192 tokens, FSQ 4096; audio: the audio helper's `demo` preset. Sizes match configs/demo.py.
"""
from omni_tokenizers.trainers import preset


def get_config(modality: str):
    return preset(modality, "demo")
