"""Text tokenizer: exact round trips of any UTF-8, ids in range, save/load, bad inputs, training errors."""
import numpy as np
import pytest
from omni_tokenizers.registry import load_tokenizer
from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
from omni_tokenizers.text.train import train
from omni_tokenizers.trainers import preset

WORDS = ("the quick brown fox jumps over a lazy dog and then some more words follow in the beginning was "
         "light water earth sky green red blue small large").split()


def corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(3, 15))).capitalize() + "." for _ in range(n)]


TRICKY = ["", " ", "  two  leading spaces and trailing  ", "tabs\tand\nnewlines\r\n", "Ünïcödé çàfé naïve",
          "漢字かな交じり文", "emoji 😀👍🏽 and ZWJ 👩‍👩‍👧", "\x00nul\x01ctl\x7f", "digits 0123456789 3.14159",
          "mixed: Привет, мир! مرحبا", "\u200b zero width \ufeff bom", "a" * 500]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    out = tmp_path_factory.mktemp("text_tok")
    result = train(preset("text", "tiny"), corpus(400, 0), corpus(50, 1), out, progress=False)
    assert result["eval"]["roundtrip_exact"] == 1.0
    return TextTokenizer.load(out)


def test_exact_roundtrip_of_any_utf8(tok):
    ids = tok.encode(TRICKY)
    assert tok.decode(ids) == TRICKY
    rng = np.random.default_rng(0)
    # random code points from every plane (no surrogates), incl. ones never seen in training
    cps = np.concatenate([rng.integers(1, 0xD800, 300), rng.integers(0xE000, 0x110000, 300)])
    random_texts = ["".join(chr(c) for c in cps[i:i + 60]) for i in range(0, 600, 60)]
    assert tok.decode(tok.encode(random_texts)) == random_texts


def test_ids_int32_in_range_and_compress(tok):
    texts = corpus(20, 2)
    ids = tok.encode(texts)
    assert all(i.dtype == np.int32 and i.ndim == 1 for i in ids)
    flat = np.concatenate(ids)
    assert flat.min() >= 0 and flat.max() < tok.vocab_size == 384
    for t, i in zip(texts + TRICKY, tok.encode(texts + TRICKY)):
        assert len(i) <= tok.tokens_per_item((len(t.encode("utf-8")),))  # the stated upper bound
    n_bytes = sum(len(t.encode()) for t in texts)
    assert n_bytes / len(flat) > 2.0  # in-domain text: well over 2 bytes per token


def test_save_load_identical(tok, tmp_path):
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert isinstance(again, TextTokenizer) and again.vocab_size == tok.vocab_size
    for a, b in zip(again.encode(TRICKY), tok.encode(TRICKY)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "text.model"]


def test_training_is_deterministic():
    a = TextTokenizer.train(corpus(200, 3), TextTokenizerConfig(vocab_size=384))
    b = TextTokenizer.train(corpus(200, 3), TextTokenizerConfig(vocab_size=384))
    assert a.model_proto == b.model_proto


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="list of str"):
        tok.encode("a bare string")
    with pytest.raises(ValueError, match="empty"):
        tok.encode([])
    with pytest.raises(ValueError, match="item 1 must be str"):
        tok.encode(["ok", b"bytes"])
    with pytest.raises(ValueError, match="too long"):
        tok.encode(["x" * (tok.config.max_bytes + 1)])
    with pytest.raises(ValueError, match="surrogate"):
        tok.encode(["\ud800"])
    with pytest.raises(ValueError, match=r"\[0, 384\)"):
        tok.decode([np.array([1, 384])])
    with pytest.raises(ValueError, match="1-D"):
        tok.decode([np.zeros((2, 2), np.int32)])
    with pytest.raises(ValueError, match="one 1-D array"):
        tok.decode(np.array([1, 2]))
    with pytest.raises(ValueError, match=">= 260"):
        TextTokenizerConfig(vocab_size=100).validate()
    with pytest.raises(ValueError, match="too small"):
        TextTokenizer.train(["tiny corpus"], TextTokenizerConfig(vocab_size=5000))
    with pytest.raises(ValueError, match="non-empty"):
        TextTokenizer.train(["", ""], TextTokenizerConfig(vocab_size=384))
