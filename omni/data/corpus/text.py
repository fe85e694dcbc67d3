"""Text checks: strict UTF-8, normalized whitespace, non-empty; anything else is a `Skip`."""
from __future__ import annotations

import re
import unicodedata

from omni.data.corpus.skips import Skip

_WS = re.compile(r"\s+")


def clean_text(raw: bytes | str, max_chars: int = 2000) -> str:
    """Decode (strict UTF-8), NFC-normalize, collapse whitespace, drop control characters."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Skip("non_utf8_text", str(e)) from None
    if not isinstance(raw, str):
        raise Skip("bad_text", f"expected str or bytes, got {type(raw).__name__}")
    text = unicodedata.normalize("NFC", raw).replace("\ufeff", "")
    text = "".join(c for c in text if c in "\t\n " or unicodedata.category(c)[0] != "C")
    text = _WS.sub(" ", text).strip()
    if not text:
        raise Skip("empty_text")
    if len(text) > max_chars:
        raise Skip("text_too_long", f"{len(text)} > {max_chars} characters")
    return text


def first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    return m.group(1) if m else text
