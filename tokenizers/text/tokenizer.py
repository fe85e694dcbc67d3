"""Text tokenizer: SentencePiece (BPE or unigram) with byte fallback, so any UTF-8 string round-trips.

Normalization is the identity and whitespace is kept verbatim (no dummy prefix, no collapsing), so
`decode(encode(s)) == s` exactly. encode: list[str] -> list of int32 [n_i]; decode: the inverse.
"""
from __future__ import annotations

import dataclasses
import io
import itertools
import pathlib
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import sentencepiece as spm
from omni_tokenizers.core import base
from omni_tokenizers.registry import TOKENIZERS

from omni.dataclass_config import option

MODEL_FILE = "text.model"


@dataclasses.dataclass
class TextTokenizerConfig:
    """SentencePiece training options; vocab_size counts every piece (incl. <unk> and 256 bytes)."""

    vocab_size: int = option(1024, "pieces in the SentencePiece model (incl. <unk> and the 256 byte pieces)")
    model_type: Literal["bpe", "unigram"] = option("bpe", "SentencePiece algorithm")
    max_bytes: int = option(65536, "longer strings are refused by encode")
    max_sentence_length: int = option(16384, "training: longer lines are skipped by SentencePiece")
    input_sentence_size: int = option(200000, "training: sample at most this many lines")
    split_digits: bool = option(True, "every digit is its own piece")
    seed: int = option(0, "SentencePiece's sampling seed")

    def validate(self) -> TextTokenizerConfig:
        if self.vocab_size < 260:
            raise ValueError(f"vocab_size must be >= 260 (<unk> + 256 byte pieces + a few), got {self.vocab_size}")
        for k in ("max_bytes", "max_sentence_length", "input_sentence_size"):
            if getattr(self, k) <= 0:
                raise ValueError(f"{k} must be > 0, got {getattr(self, k)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        return self


def train_sentencepiece(texts: Iterable[str], cfg: TextTokenizerConfig) -> bytes:
    """Trains a SentencePiece model on `texts` (one sentence per item) and returns its serialized proto."""
    cfg.validate()
    count = [0]

    def lines():  # streamed: SentencePiece samples input_sentence_size of them; no list of all texts
        for t in texts:
            if isinstance(t, str) and t:
                count[0] += 1
                yield t
    stream = lines()
    first = next(stream, None)
    if first is None:
        raise ValueError("train_sentencepiece needs at least one non-empty string")
    buf = io.BytesIO()
    spm.set_random_generator_seed(cfg.seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=itertools.chain([first], stream), model_writer=buf, vocab_size=cfg.vocab_size,
            model_type=cfg.model_type, byte_fallback=True, character_coverage=0.9995,
            normalization_rule_name="identity", add_dummy_prefix=False, remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True, split_digits=cfg.split_digits,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, max_sentence_length=cfg.max_sentence_length,
            input_sentence_size=cfg.input_sentence_size, shuffle_input_sentence=True,
            num_threads=2, minloglevel=2)
    except RuntimeError as e:
        raise ValueError(f"SentencePiece training failed ({e}); with {count[0]} lines the corpus may be "
                         f"too small for vocab_size={cfg.vocab_size}") from None
    return buf.getvalue()


@TOKENIZERS.register("text_sentencepiece")
class TextTokenizer(base.Tokenizer):
    """SentencePiece wrapper following the Tokenizer contract (ids are SentencePiece ids)."""

    kind = "text_sentencepiece"
    modality = "text"

    def __init__(self, cfg: TextTokenizerConfig, model_proto: bytes):
        self.config = cfg.validate()
        self.model_proto = bytes(model_proto)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        self.vocab_size = int(self.sp.vocab_size())

    @classmethod
    def train(cls, texts: Iterable[str], cfg: TextTokenizerConfig) -> TextTokenizer:
        return cls(cfg, train_sentencepiece(texts, cfg))

    def _check_texts(self, texts) -> list[str]:
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ValueError(f"text batch must be a list of str, got {type(texts).__name__}")
        if len(texts) == 0:
            raise ValueError("text batch is empty; expected at least one string")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ValueError(f"text batch item {i} must be str, got {type(t).__name__}")
            n = len(t.encode("utf-8", "surrogatepass"))
            if n > self.config.max_bytes:
                raise ValueError(f"text batch item {i} is too long: {n} UTF-8 bytes > max_bytes="
                                 f"{self.config.max_bytes}")
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"text batch item {i} is not valid Unicode (lone surrogate)") from None
        return list(texts)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """list[str] -> list of int32 [n_i] (variable length)."""
        ids = self.sp.encode(self._check_texts(texts), out_type=int)
        return [np.asarray(x, np.int32) for x in ids]

    def decode(self, ids: Sequence) -> list[str]:
        """list of int id arrays -> list[str]."""
        if isinstance(ids, np.ndarray) and ids.ndim == 1:
            raise ValueError("text ids must be a list of 1-D id arrays (one per item), got one 1-D array")
        if not isinstance(ids, (Sequence, np.ndarray)) or len(ids) == 0:
            raise ValueError("text ids must be a non-empty list of 1-D int arrays")
        out = []
        for i, x in enumerate(ids):
            a = np.asarray(x)
            if a.ndim != 1:
                raise ValueError(f"text ids item {i} must be 1-D, got shape {a.shape}")
            if a.size:
                base.check_ids(a, self.vocab_size, f"text ids item {i}")
            out.append(a.astype(np.int64).tolist())
        return [self.sp.decode(x) for x in out]

    def tokens_per_item(self, shape) -> int:
        """shape (num_utf8_bytes,) -> an upper bound on tokens (every token covers >= 1 byte)."""
        if len(shape) != 1 or int(shape[0]) < 0:
            raise ValueError(f"text shape must be (num_utf8_bytes,), got {tuple(shape)}")
        return int(shape[0])

    def save(self, directory) -> None:
        d = pathlib.Path(directory)
        base.write_config(d, self.kind, self.modality, self.config, vocab_size=self.vocab_size,
                          model_file=MODEL_FILE)
        (d / MODEL_FILE).write_bytes(self.model_proto)

    @classmethod
    def load(cls, directory) -> TextTokenizer:
        payload = base.read_config(directory, cls.kind)
        path = pathlib.Path(directory) / MODEL_FILE
        if not path.is_file():
            raise ValueError(f"missing SentencePiece model: expected {path}")
        tok = cls(base.config_from_payload(TextTokenizerConfig, payload), path.read_bytes())
        if tok.vocab_size != payload.get("vocab_size", tok.vocab_size):
            raise ValueError(f"{path}: vocabulary has {tok.vocab_size} pieces, config.json says "
                             f"{payload['vocab_size']}")
        return tok
