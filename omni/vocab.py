"""The unified vocabulary: one id space over all modalities.

Layout (contiguous ranges, in registry order):

    text  : [special tokens ...][text tokenizer ids ...]
    image : [image codes ...][<end_image>]
    audio : [audio codes ...][<end_audio>]
    video : [video codes ...][<end_video>]

Special tokens (pad=0, bos, eos, begin markers per non-text modality, task tokens) live in the
text range, so they are embedded by the text weights and can be predicted by the text head. Each
non-text modality ends with its own end token, inside its range, so a variable-length modality
(audio) can predict its end with its own head; fixed-length ones (image, video) have it inserted.
The output head of modality m covers exactly `range(m)`.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from omni import modality as mod

PAD_ID = 0


@dataclasses.dataclass(frozen=True)
class UnifiedVocab:
    """Maps each modality's local token ids to disjoint global ids.

    `sizes[m]` is the number of *codes* of modality m from its tokenizer (text: the SentencePiece
    vocabulary). `task_tokens` are named special tokens such as "<task:caption>".
    """

    sizes: tuple[tuple[str, int], ...]
    task_tokens: tuple[str, ...] = ()

    def __post_init__(self):
        names = [n for n, _ in self.sizes]
        if names[:1] != ["text"]:
            raise ValueError(f"the first modality of the vocabulary must be 'text', got {names}")
        for n, s in self.sizes:
            mod.modality_id(n)  # validates the name
            if int(s) <= 0:
                raise ValueError(f"vocabulary size of {n!r} must be positive, got {s}")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate modality in vocabulary: {names}")

    @classmethod
    def create(cls, sizes: dict[str, int], task_tokens: tuple[str, ...] = ()) -> UnifiedVocab:
        order = [n for n in mod.names() if n in sizes]
        unknown = set(sizes) - set(mod.names())
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; expected some of {mod.names()}")
        return cls(tuple((n, int(sizes[n])) for n in order), tuple(task_tokens))

    # ---- special tokens -------------------------------------------------------------------
    @property
    def special_tokens(self) -> tuple[str, ...]:
        begins = tuple(f"<begin_{n}>" for n, _ in self.sizes if n != "text")
        return ("<pad>", "<bos>", "<eos>", "<sep>") + begins + tuple(self.task_tokens)

    def special(self, name: str) -> int:
        try:
            return self.special_tokens.index(name)
        except ValueError:
            raise ValueError(f"unknown special token {name!r}; known: {self.special_tokens}") from None

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def bos_id(self) -> int:
        return self.special("<bos>")

    @property
    def eos_id(self) -> int:
        return self.special("<eos>")

    def begin_id(self, modality: str) -> int:
        if modality == "text":
            return self.bos_id
        return self.special(f"<begin_{modality}>")

    def end_id(self, modality: str) -> int:
        """The token that ends a span of `modality` (text: eos; others: last id of their range)."""
        if modality == "text":
            return self.eos_id
        return self.range(modality)[1] - 1

    def task_id(self, task: str) -> int:
        return self.special(task)

    # ---- ranges ---------------------------------------------------------------------------
    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.sizes)

    def _range_sizes(self) -> list[tuple[str, int]]:
        out = []
        for n, s in self.sizes:
            out.append((n, s + len(self.special_tokens)) if n == "text" else (n, s + 1))
        return out

    def range(self, modality: str) -> tuple[int, int]:
        """Global [start, stop) owned by `modality` (its head covers exactly this)."""
        start = 0
        for n, s in self._range_sizes():
            if n == modality:
                return start, start + s
            start += s
        raise ValueError(f"modality {modality!r} not in this vocabulary; has {self.modalities}")

    @property
    def size(self) -> int:
        return sum(s for _, s in self._range_sizes())

    def code_offset(self, modality: str) -> int:
        """Global id of local code 0 of `modality` (text: first SentencePiece id)."""
        start, _ = self.range(modality)
        return start + (len(self.special_tokens) if modality == "text" else 0)

    def num_codes(self, modality: str) -> int:
        return dict(self.sizes)[modality]

    def to_global(self, modality: str, local_ids):
        local = np.asarray(local_ids)
        n = self.num_codes(modality)
        if local.size and (local.min() < 0 or local.max() >= n):
            raise ValueError(f"{modality} ids must lie in [0, {n}), got range [{local.min()}, {local.max()}]")
        return local.astype(np.int32) + self.code_offset(modality)

    def to_local(self, modality: str, global_ids):
        g = np.asarray(global_ids)
        off, n = self.code_offset(modality), self.num_codes(modality)
        if g.size and (g.min() < off or g.max() >= off + n):
            raise ValueError(f"ids are not {modality} codes: expected [{off}, {off + n})")
        return (g - off).astype(np.int32)

    def modality_of(self, ids):
        """Modality id (registry numbering) of each global id."""
        ids = np.asarray(ids)
        out = np.full(ids.shape, -1, np.int32)
        for n in self.modalities:
            a, b = self.range(n)
            out[(ids >= a) & (ids < b)] = mod.modality_id(n)
        if (out < 0).any():
            raise ValueError(f"ids outside the vocabulary [0, {self.size})")
        return out

    def head_ranges(self) -> np.ndarray:
        """[num_registry_modalities, 2] start/stop of each modality's head (0,0 if absent)."""
        out = np.zeros((len(mod.names()), 2), np.int32)
        for n in self.modalities:
            out[mod.modality_id(n)] = self.range(n)
        return out

    # ---- serialization --------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"sizes": dict(self.sizes), "task_tokens": list(self.task_tokens)})

    @classmethod
    def from_json(cls, s: str) -> UnifiedVocab:
        d = json.loads(s)
        return cls.create(d["sizes"], tuple(d.get("task_tokens", ())))
