"""Evaluation metrics against hand-computed answers; motion direction on synthetic moving squares."""
import math

import numpy as np
import pytest

from omni.eval import metrics
from omni.eval.motion import direction_in_text, motion_direction, motion_vector


def test_words_and_token_f1():
    assert metrics.words("A goat, moving LEFT!") == ["a", "goat", "moving", "left"]
    assert metrics.token_f1("A goat.", "a goat") == 1.0
    # ref 4 words, hyp 2 words, 2 shared: p = 1, r = 0.5 -> f1 = 2/3
    assert metrics.token_f1("a red fox runs", "red fox") == pytest.approx(2 / 3, abs=1e-12)
    assert metrics.token_f1("a goat", "") == 0.0
    assert metrics.token_f1("", "") == 1.0
    assert metrics.token_f1("goat goat", "goat") == pytest.approx(2 / 3, abs=1e-12)  # counts clip
    assert metrics.exact_match("A goat.", "a  goat") == 1.0


def test_wer_known_values():
    assert metrics.edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    # refs: 3 + 2 words; edits: 1 substitution + 2 deletions = 3 -> 3/5
    assert metrics.wer(["the cat sat", "hello there"], ["the bat sat", ""]) == pytest.approx(0.6, abs=1e-12)
    assert metrics.wer(["one"], ["one two three"]) == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="no words"):
        metrics.wer([""], ["x"])


def test_ratio_ci_brackets_the_ratio_like_the_binomial():
    # 50 right of 100: the normal approximation's 95% interval is 0.5 +- 0.098
    lo, hi = metrics.ratio_ci([1] * 50 + [0] * 50, [1] * 100)
    assert lo == pytest.approx(0.402, abs=0.02) and hi == pytest.approx(0.598, abs=0.02)
    assert metrics.ratio_ci([1] * 8, [1] * 8) == (1.0, 1.0)  # no spread without errors
    # a corpus WER: edits over reference words, examples resampled whole (so the interval holds 3/5)
    lo, hi = metrics.ratio_ci([0, 2, 1], [1, 2, 2])
    assert lo <= 3 / 5 <= hi and 0 <= lo and hi <= 1.0
    assert metrics.ratio_ci([0, 2, 1], [1, 2, 2]) == (lo, hi)  # seeded: the same interval every time
    with pytest.raises(ValueError, match="equal, non-empty"):
        metrics.ratio_ci([1, 0], [1])


def test_nested_ratio_ci_holds_the_spread_between_runs():
    # one run: the two-level bootstrap is the one-level one in distribution (50 of 100: 0.5 +- 0.098)
    lo, hi = metrics.nested_ratio_ci([([1] * 50 + [0] * 50, [1] * 100)])
    assert lo == pytest.approx(0.402, abs=0.02) and hi == pytest.approx(0.598, abs=0.02)
    # three seeds that disagree (20%, 50%, 80% of 100 each): pooled 0.5, but the interval must hold the seeds'
    # spread, far wider than the pooled 300 examples' one-level interval (+- 0.057)
    runs = [([1] * k + [0] * (100 - k), [1] * 100) for k in (20, 50, 80)]
    lo, hi = metrics.nested_ratio_ci(runs)
    flat = metrics.ratio_ci(sum((r[0] for r in runs), []), [1] * 300)
    assert lo < 0.35 and hi > 0.65 and lo < flat[0] and hi > flat[1]
    assert lo >= 0.15 and hi <= 0.85                     # never outside the runs themselves
    assert metrics.nested_ratio_ci([([1, 1], [1, 1]), ([2], [2])]) == (1.0, 1.0)  # no spread, no width
    assert metrics.nested_ratio_ci(runs) == (lo, hi)   # seeded
    with pytest.raises(ValueError, match="one or more runs"):
        metrics.nested_ratio_ci([])
    with pytest.raises(ValueError, match="one or more runs"):
        metrics.nested_ratio_ci([([1, 0], [1])])


def test_majority_and_retrieval():
    assert metrics.majority(["left", "up", "left", "down"]) == ("left", 0.5)
    assert metrics.majority_text(["A goat.", "a goat", "A frog."]) == "a goat"
    bank = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = np.array([[1.0, 1.0], [9.0, 1.0], [9.0, 0.0], [0.0, 8.0]])
    assert metrics.retrieval_accuracy(queries, bank, [0, 1, 2, 2]) == pytest.approx(0.75, abs=1e-12)
    assert metrics.perplexity(math.log(7.0)) == pytest.approx(7.0, rel=1e-12)


def moving_square(direction: str, T: int = 9, S: int = 32, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A bright 8-pixel square crossing a fixed random-texture background, as uint8 [T, S, S, 3]."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 120, (S, S, 3)).astype(np.float32)
    frames = []
    for t in np.linspace(0.2, 0.8, T):
        along = t if direction in ("right", "down") else 1.0 - t
        cx, cy = (along * S, S / 2) if direction in ("left", "right") else (S / 2, along * S)
        f = bg.copy()
        f[int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4] = 250.0
        frames.append(f + rng.normal(0, noise, f.shape))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
@pytest.mark.parametrize("noise", [0.0, 12.0])
def test_motion_direction_of_moving_squares(direction, noise):
    clip = moving_square(direction, noise=noise, seed=3)
    assert motion_direction(clip) == direction
    assert motion_direction(clip.astype(np.float32) / 255.0) == direction  # float input, same answer


def test_motion_vector_magnitude_and_static_clip():
    # the square travels 0.6 * 32 = 19.2 px; the centroid track recovers it to within 3 px
    dx, dy = motion_vector(moving_square("right"))
    assert abs(dx - 19.2) < 3.0 and abs(dy) < 1.0
    still = np.repeat(moving_square("right")[:1], 9, axis=0)
    assert motion_direction(still) is None
    rng = np.random.default_rng(0)
    assert motion_direction(rng.integers(0, 255, (9, 32, 32, 3)).astype(np.uint8)) is None  # pure noise
    assert direction_in_text("A goat moving left.") == "left" and direction_in_text("A goat.") is None
