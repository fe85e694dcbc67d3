"""Text: SentencePiece (BPE or unigram) with byte fallback (`tokenizer`, kind "text_sentencepiece"), its fit and
held-out evaluation (`train`; presets in configs/tokenizers_text.py)."""
from omni_tokenizers.text.tokenizer import TextTokenizer, TextTokenizerConfig

__all__ = ["TextTokenizer", "TextTokenizerConfig"]
