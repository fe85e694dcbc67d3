"""Training and held-out evaluation of the text tokenizer (SentencePiece on the corpus text; presets in
configs/tokenizers_text.py)."""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Sequence

import numpy as np
from omni_tokenizers.core.data import first_items, source_weights_option
from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
from omni_tokenizers.trainers import TRAINERS

from omni.config import check_source_weights
from omni.dataclass_config import option


@dataclasses.dataclass
class TextTrainConfig:
    model: TextTokenizerConfig = dataclasses.field(default_factory=TextTokenizerConfig)
    eval_items: int = option(512, "held-out texts for the round-trip and compression figures")
    source_weights: tuple[tuple[str, float], ...] = source_weights_option()

    def validate(self) -> TextTrainConfig:
        self.model.validate()
        if self.eval_items <= 0:
            raise ValueError(f"eval_items must be > 0, got {self.eval_items}")
        check_source_weights(self.source_weights, "source_weights")
        return self


def evaluate(tok: TextTokenizer, texts: Sequence[str]) -> dict[str, float]:
    """Exact round-trip rate, UTF-8 bytes per token, tokens per item, unknown-free check."""
    texts = [t for t in texts if t]
    ids = tok.encode(texts)
    back = tok.decode(ids)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_tok = sum(len(i) for i in ids)
    used = np.unique(np.concatenate([i for i in ids if len(i)])) if n_tok else np.zeros(0)
    return {"roundtrip_exact": float(np.mean([a == b for a, b in zip(texts, back)])),
            "bytes_per_token": n_bytes / max(n_tok, 1), "tokens_per_item": n_tok / len(texts),
            "vocab_usage": float(len(used) / tok.vocab_size)}


@TRAINERS.register("text", config=TextTrainConfig)
def train(job: TextTrainConfig, train_texts: Sequence[str], eval_texts: Sequence[str],
          out_dir: str | pathlib.Path, progress: bool = True, until: int | None = None) -> dict:
    """Trains SentencePiece on train_texts, saves it to out_dir, writes eval.json (held-out metrics).

    `progress` / `until` exist for a uniform trainer signature; SentencePiece trains in one call.
    """
    job.validate()
    out_dir = pathlib.Path(out_dir)
    t0 = time.time()
    if progress:
        print(f"[text] training SentencePiece ({job.model.model_type}, {job.model.vocab_size} pieces) "
              f"on up to {len(train_texts)} texts (streamed)", flush=True)
    tok = TextTokenizer.train(train_texts, job.model)
    tok.save(out_dir)
    held = first_items(eval_texts, job.eval_items, "held-out texts")
    result = {"step": 1, "seconds": time.time() - t0, "eval": evaluate(tok, held)}
    (out_dir / "eval.json").write_text(json.dumps({"step": 1, **result["eval"]}, indent=2))
    if progress:
        print("[text] held-out: " + ", ".join(f"{k}={v:.4g}" for k, v in result["eval"].items()), flush=True)
    return result
