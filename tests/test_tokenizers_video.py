"""Video tokenizer: causality (first frame alone, groups), short-fit bound, save/load, bad inputs."""
import jax.numpy as jnp
import numpy as np
import pytest
from omni_tokenizers.core.data import synthetic_videos, to_float
from omni_tokenizers.image.metrics import frames_psnr
from omni_tokenizers.registry import load_tokenizer
from omni_tokenizers.trainers import preset
from omni_tokenizers.video import VideoTokenizer
from omni_tokenizers.video.train import train

# tiny preset: 5 frames of 16x16 -> (1 + 1) latent frames x 4x4 tokens, FSQ 1000, 150 steps.
# Measured held-out per-frame PSNR on moving synthetic shapes: 18.7 / 18.9 dB with seeds 0 / 1
# (100 steps: 16.4 dB, too close to the bound; untrained: ~9 dB).
PSNR_BOUND_DB = 16.5


# One worker runs the whole module, so the fitted tokenizer below is built once under xdist --dist loadgroup.
pytestmark = pytest.mark.xdist_group("tokenizer_video")


@pytest.fixture(scope="session")  # session: built once per worker even if other modules interleave
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("video_tok")
    job = preset("video", "tiny")
    assert job.train.steps == 150
    result = train(job, synthetic_videos(128, 5, 16, seed=0), synthetic_videos(16, 5, 16, seed=1),
                               out, progress=False)
    return VideoTokenizer.load(out), result


def test_short_fit_reconstructs_below_bound(trained):
    tok, result = trained
    x = to_float(synthetic_videos(16, 5, 16, seed=1))
    ids = tok.encode(x)
    assert ids.shape == (16, tok.tokens_per_item(x.shape[1:])) == (16, 32) and ids.dtype == jnp.int32
    assert int(ids.min()) >= 0 and int(ids.max()) < tok.vocab_size == 1000
    rec = tok.decode(ids)  # default grid: frames of config.frame_size (16) squared
    assert rec.shape == x.shape and float(rec.min()) >= 0 and float(rec.max()) <= 1
    value = float(jnp.mean(frames_psnr(x, rec)))
    assert value > PSNR_BOUND_DB, f"held-out per-frame PSNR {value:.2f} dB <= {PSNR_BOUND_DB} dB"
    assert abs(value - result["eval"]["psnr"]) < 1e-3


def test_causal_first_frame_alone_and_groups(trained):
    tok, _ = trained
    x = to_float(synthetic_videos(2, 9, 16, seed=3))
    ids = np.asarray(tok.encode(x))
    hw = 16  # 4x4 tokens per latent frame
    # a one-frame clip (= an image) gives exactly the first frame's tokens of the long clip
    np.testing.assert_array_equal(np.asarray(tok.encode(x[:, :1])), ids[:, :hw])
    np.testing.assert_array_equal(np.asarray(tok.encode(x[:, :5])), ids[:, :2 * hw])
    # changing the last group leaves every earlier token unchanged; it does change the last group's
    y = x.copy()
    y[:, 5:] = 1.0 - y[:, 5:]
    changed = np.asarray(tok.encode(y))
    np.testing.assert_array_equal(changed[:, :2 * hw], ids[:, :2 * hw])
    assert (changed[:, 2 * hw:] != ids[:, 2 * hw:]).any()
    # decoding is causal too: the first frame decodes the same from its tokens alone
    np.testing.assert_allclose(np.asarray(tok.decode(ids[:, :hw]))[:, 0], np.asarray(tok.decode(ids))[:, 0],
                               atol=1e-5)


def test_save_load_identical(trained, tmp_path):
    tok, _ = trained
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    x = to_float(synthetic_videos(2, 5, 16, seed=4))
    ids = tok.encode(x)
    np.testing.assert_array_equal(np.asarray(again.encode(x)), np.asarray(ids))
    np.testing.assert_array_equal(np.asarray(again.decode(ids)), np.asarray(tok.decode(ids)))


def test_bad_inputs(trained):
    tok, _ = trained
    ok = np.zeros((1, 5, 16, 16, 3), np.float32)
    cases = [(ok[0], "rank 5"), (np.zeros((1, 4, 16, 16, 3), np.float32), r"1 \+ 4\*k frames"),
             (np.zeros((1, 5, 16, 16, 4), np.float32), "3 channels"), (ok.astype(np.uint8), "float"),
             (ok - 0.5, r"\[0.0, 1.0\]"), (ok[:0], "empty"), (np.zeros((1, 5, 18, 16, 3), np.float32), "multiple of 4"),
             (np.zeros((1, 261, 4, 4, 3), np.float32), "too long")]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            tok.encode(bad)
    with pytest.raises(ValueError, match=r"\[0, 1000\)"):
        tok.decode(np.full((1, 32), -1))
    with pytest.raises(ValueError, match="whole number"):
        tok.decode(np.zeros((1, 20), np.int32))
    with pytest.raises(ValueError, match="grid 2x4x4"):
        tok.decode(np.zeros((1, 20), np.int32), grid=(2, 4, 4))
    with pytest.raises(ValueError, match=r"1 \+ 4\*k frames"):
        tok.tokens_per_item((8, 16, 16, 3))
