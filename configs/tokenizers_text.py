"""Text tokenizer presets: `get_config(name)` -> TextTrainConfig.

tiny: 384 pieces (tests); demo (`make demo`, sizes match configs/demo.py): SentencePiece BPE 1024 pieces with
byte fallback; base (pod scale): BPE 32000 pieces on up to 10M sampled lines, fits configs/base.py's vocabulary.
"""
from omni_tokenizers.text.tokenizer import TextTokenizerConfig
from omni_tokenizers.text.train import TextTrainConfig


def get_config(name: str = "demo") -> TextTrainConfig:
    if name == "base":
        return TextTrainConfig(model=TextTokenizerConfig(vocab_size=32000, model_type="bpe",
                                                         input_sentence_size=10_000_000), eval_items=4096)
    if name == "tiny":
        return TextTrainConfig(model=TextTokenizerConfig(vocab_size=384), eval_items=64)
    if name == "demo":
        return TextTrainConfig(model=TextTokenizerConfig(vocab_size=1024, model_type="bpe"))
    raise ValueError(f"unknown text preset {name!r}; expected 'tiny', 'demo' or 'base'")
