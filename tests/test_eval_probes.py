"""The probes' model-free parts: number words and the WER normaliser, colour words in captions, the registry's
six entries (each naming an outside judge), baselines and ceilings on hand-made held-out examples."""
import json

import numpy as np
import pytest

from omni.data.corpus.colour import caption, dominant_colour, on_card
from omni.data.corpus.numbers import number_words, numerals_to_words
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec
from omni.eval import probes
from omni.eval.judges import colour_name


def test_number_words_and_numerals():
    assert [number_words(n) for n in (0, 7, 13, 20, 73, 100, 328, 999)] == [
        "zero", "seven", "thirteen", "twenty", "seventy three", "one hundred", "three hundred twenty eight",
        "nine hundred ninety nine"]
    assert numerals_to_words("73 and 328!").split() == "seventy three and three hundred twenty eight !".split()
    assert numerals_to_words("1000") == "1000"  # out of range: left alone
    with pytest.raises(ValueError, match="0..999"):
        number_words(1000)
    # "73" answers spoken "seventy three" exactly; one wrong word of two is WER 1/2
    assert probes.number_wer(["seventy three"], ["73"]) == 0.0
    assert probes.number_wer(["seventy three", "five"], ["seventy two", "5"]) == pytest.approx(1 / 3)
    # per-example scores (the report's bootstrap) add up to the corpus WER
    scores = [probes.number_score(r, h) for r, h in (("seventy three", "seventy two"), ("five", "5"), ("47", ""))]
    assert scores == [[1, 2], [0, 1], [2, 2]]
    assert sum(a for a, _ in scores) / sum(b for _, b in scores) == probes.number_wer(
        ["seventy three", "five", "47"], ["seventy two", "5", ""])


def test_colour_words_in_captions_and_cards():
    assert probes.colour_in_text("An Orange fox, not red") == "orange" and probes.colour_in_text("a fox") is None
    assert caption("orange", "fox") == "an orange fox" and caption("red", "hat") == "a red hat"
    cut = np.zeros((40, 30, 4), np.uint8)
    cut[5:35, 5:25] = (30, 60, 220, 255)  # a blue blob, opaque
    assert dominant_colour(cut, 0.5) == ("blue", 1.0)
    card = on_card(cut, MediaSpec(), view=1)
    assert card.shape == (64, 64, 3) and colour_name(card) == "blue" and tuple(card[0, 0]) == (128, 128, 128)
    half = cut.copy()
    half[5:35, 15:25] = (220, 30, 30, 255)  # half red, half blue: no clear colour at 60%
    with pytest.raises(Skip, match="covers 0.50"):
        dominant_colour(half, 0.6)


def _ex(**label):
    return {"label": json.dumps(label)}


def test_registry_baselines_and_ceilings():
    assert set(probes.PROBES.names()) == {"numbers audio->text", "numbers text->audio", "motion video->text",
                                          "motion text->video", "colour image->text", "colour text->image"}
    for p in probes.PROBES.names():
        m = probes.spec(p)
        assert m["judge"] and "model" not in m["judge"].lower() and p.split()[1] == m["direction"]
    cols = [_ex(colour=c) for c in ("red", "red", "blue", "green")]
    assert probes.baseline("colour text->image", cols) == (0.5, "always the most common colour ('red')")
    assert probes.ceiling("colour image->text", cols)[0] == 1.0
    nums = [_ex(words=w) for w in ("six", "six", "sixty one")]
    assert probes.baseline("numbers audio->text", nums)[0] == pytest.approx(2 / 4)  # "six" for "sixty one"


def test_brown_is_not_called_orange():
    cut = np.zeros((20, 20, 4), np.uint8)
    cut[..., 3] = 255
    cut[..., :3] = (250, 140, 20)  # vivid orange
    assert dominant_colour(cut, 0.5)[0] == "orange"
    cut[..., :3] = (120, 80, 40)  # brown: the judge's hue says orange, a person says brown
    with pytest.raises(Skip, match="brightness 0.47"):
        dominant_colour(cut, 0.5)
