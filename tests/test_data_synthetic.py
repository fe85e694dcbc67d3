"""Synthetic examples: deterministic, valid for the vocabulary, media determined by the caption."""
import numpy as np
import pytest

from omni.config import load_config
from omni.data import tasks
from omni.data.synthetic import SyntheticSource

VOCAB = load_config("tiny").vocab.build()


def test_deterministic_per_split_and_index():
    a, b = SyntheticSource(VOCAB, 64), SyntheticSource(VOCAB, 64)
    v = SyntheticSource(VOCAB, 64, split="validation")
    for i in (0, 5, 63):
        x, y = a[i], b[i]
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert any(not np.array_equal(a[i].get("text", []), v[i].get("text", [])) for i in range(8))
    with pytest.raises(IndexError):
        a[64]
    with pytest.raises(ValueError, match="unknown split"):
        SyntheticSource(VOCAB, 4, split="test")


def test_examples_pass_validation_and_cover_every_modality():
    src = SyntheticSource(VOCAB, 400, audio_quantizers=2)
    counts = dict.fromkeys(("text", "image", "audio", "video"), 0)
    for i in range(len(src)):
        local = tasks.check_example(src[i], VOCAB, src.fixed_lengths, 2)  # raises Skip on any bad example
        for m in local:
            counts[m] += 1
    assert counts["text"] > 300 and counts["image"] > 180 and counts["audio"] > 100 and counts["video"] > 70


def test_media_are_a_function_of_the_caption():
    src = SyntheticSource(VOCAB, 8)
    cap = np.array([10, 53, 4], np.int32)
    np.testing.assert_array_equal(src.image(cap), src.image(np.array([10, 53, 9, 9], np.int32)))  # words 0, 1
    img = src.image(cap)
    assert img[0] == 10 and (np.diff(img) % 64 == 1 + 53 % 7).all()
    aud = src.audio(cap)
    assert aud.shape == (2, 6) and (aud[0] < 32).all() and (aud[1] >= 32).all()
    assert not np.array_equal(src.audio(cap), src.audio(np.array([11, 53, 4], np.int32)))
