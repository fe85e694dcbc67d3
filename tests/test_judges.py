"""The outside judges: STOI/PESQ against their defined end points, colour words and channels from pixels."""
import numpy as np
import pytest

from omni.eval import judges


def _speechlike(seconds=2.0, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))  # syllable-rate modulation
    x = sum(np.sin(2 * np.pi * f * t) for f in (200, 400, 800, 1600)) * env + 0.05 * rng.standard_normal(t.size)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def test_stoi_and_pesq_end_points():
    x = _speechlike()
    assert judges.stoi(x, x) == pytest.approx(1.0, abs=1e-6)
    assert judges.pesq_wb(x, x) > 4.5  # P.862.2's ceiling is 4.64
    noisy = x + 0.2 * np.random.default_rng(1).standard_normal(x.size).astype(np.float32)
    assert judges.stoi(x, noisy) < 0.9 and judges.pesq_wb(x, noisy) < 2.0
    # another rate is resampled to 16 kHz first: the same signal at 8 kHz judged against itself stays perfect
    assert judges.stoi(x[::2], x[::2], 8000) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="0.25 s"):
        judges.stoi(x[:100], x[:100])


def test_transcribe_returns_words_or_empty():
    assert judges.transcribe(None) == "" and judges.transcribe(np.zeros(10, np.float32)) == ""
    out = judges.transcribe(_speechlike())
    assert isinstance(out, str) and out == out.lower() and "<" not in out
    words = ("one", "two", "three")
    restricted = judges.transcribe(_speechlike(), vocabulary=words)
    assert set(restricted.split()) <= set(words)  # a word-loop grammar hears only its words
    with pytest.raises(ValueError, match="dictionary"):
        judges.transcribe(_speechlike(), vocabulary=("one", "zzqxj"))


def test_colour_words_and_names():
    px = np.array([[[255, 0, 0], [0, 200, 0], [0, 0, 255], [255, 255, 0], [255, 140, 0], [150, 0, 200],
                    [250, 250, 250], [10, 10, 10], [128, 128, 128]]], np.uint8)
    assert list(judges.colour_words(px)[0]) == ["red", "green", "blue", "yellow", "orange", "purple", "white",
                                                  "black", "grey"]
    img = np.full((8, 8, 3), 255, np.uint8)
    img[2:6, 2:6] = (20, 160, 40)  # a green object on white: white never wins with chromatic_only
    assert judges.colour_name(img) == "green"
    assert judges.colour_name(img, chromatic_only=False) == "white"
    assert judges.colour_name(np.full((4, 4, 3), 128, np.uint8)) is None


def test_colour_kept():
    img = np.zeros((4, 4, 3), np.float32)
    img[:2, :, 1] = 0.8   # green rows
    img[2:, :, 0] = 0.8   # red rows
    brown = img.copy()
    brown[:2] = (0.5, 0.35, 0.1)  # green came back brown: red dominates
    k = judges.colour_kept(img, brown)
    assert k["all"] == 0.5 and k["green"] == 0.0 and k["red"] == 1.0 and np.isnan(k["blue"])
