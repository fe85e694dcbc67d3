"""`bench.py tokenizers`: the issue's JSON shape and the classical baselines' rate control.

Untrained tiny tokenizers suffice here: the test checks what is measured and at which bits, not quality
(the tokenizer tests bound the trained quality).
"""
import math

import numpy as np
import pytest
from omni_tokenizers.core.data import synthetic_images, synthetic_videos
from omni_tokenizers.image import ImageTokenizer, baseline
from omni_tokenizers.trainers import preset
from omni_tokenizers.video import VideoTokenizer

from omni.bench import tokenizers as bench

SHAPE_KEYS = {"metric", "higher_is_better", "learned", "baseline", "baseline_codec", "bits_per_item",
              "baseline_bits_per_item", "tokens_per_item", "encode_items_per_s", "decode_items_per_s"}


def _photo_like(n: int, size: int) -> np.ndarray:
    """Smooth images with texture (WebP's minimum size on these is well above a few hundred bits)."""
    return synthetic_images(n, size, seed=3)


def test_image_baseline_is_rate_matched():
    tok = ImageTokenizer(preset("image", "tiny").model)   # 4x: 16x16 tokens of FSQ 1000 on 64x64
    images = _photo_like(4, 64)
    r = bench.bench_image(tok, images, batch=4)
    assert SHAPE_KEYS <= set(r) and r["metric"] == "psnr" and r["higher_is_better"] is True
    assert r["tokens_per_item"] == 256 and r["bits_per_item"] == pytest.approx(256 * math.log2(1000))
    # Every baseline image is coded at >= the learned bits; rate matching picks the cheapest such setting,
    # so it never spends more than full-resolution WebP at its lowest quality reaching the budget.
    for im in images:
        _, bits, _ = baseline.at_bits_rescaled(im, r["bits_per_item"])
        _, full_bits, _ = baseline.at_bits(im, r["bits_per_item"])
        assert r["bits_per_item"] <= bits <= full_bits
    assert r["bits_per_item"] <= r["baseline_bits_per_item"] <= r["baseline_fullres_bits_per_item"]
    assert all(np.isfinite(r[k]) for k in ("learned", "baseline", "baseline_fullres", "learned_ssim"))
    assert r["encode_items_per_s"] > 0 and r["decode_items_per_s"] > 0 and r["items"] == 4


def test_rescaled_baseline_reaches_below_fullres_minimum():
    """A budget under full-resolution WebP's floor is met by a downscale, still at >= the budget."""
    im = _photo_like(1, 64)[0]
    _, floor_bits = baseline.roundtrip(im, 0)
    target = 0.6 * floor_bits
    out, bits, (side, _) = baseline.at_bits_rescaled(im, target)
    assert out.shape == im.shape and out.dtype == np.uint8
    assert target <= bits < floor_bits and side < 64


def test_video_baseline_per_frame():
    tok = VideoTokenizer(preset("video", "tiny").model)   # 5x16x16 -> 2x4x4 tokens of FSQ 1000
    videos = synthetic_videos(2, 5, 16, seed=4)
    r = bench.bench_video(tok, videos, batch=2)
    assert SHAPE_KEYS <= set(r) and r["tokens_per_item"] == 32
    assert r["bits_per_item"] <= r["baseline_bits_per_item"] <= r["baseline_fullres_bits_per_item"]
    assert np.isfinite(r["learned_psnr_first_frame"]) and r["items"] == 2
