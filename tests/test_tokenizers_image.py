"""Image tokenizer: short fit reconstruction bound, ids, save/load, jit, bad inputs, launcher resume."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from omni_tokenizers.core.data import synthetic_images, to_float
from omni_tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from omni_tokenizers.image.metrics import psnr
from omni_tokenizers.image.train import train
from omni_tokenizers.registry import load_tokenizer
from omni_tokenizers.trainers import preset

from tests.launch_utils import launch_script

# tiny preset: 32x32 images, 4x downsampling -> 8x8 tokens, FSQ (8,5,5,5) = 1000 codes, 100 steps.
# Measured held-out PSNR on the synthetic shapes: ~20.5 dB (an untrained model: ~8 dB).
PSNR_BOUND_DB = 18.0


# One worker runs the whole module, so the fitted tokenizer below is built once under xdist --dist loadgroup.
pytestmark = pytest.mark.xdist_group("tokenizer_image")


@pytest.fixture(scope="session")  # session: built once per worker even if other modules interleave
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("image_tok")
    job = preset("image", "tiny")
    job.train = dataclasses.replace(job.train, steps=100)
    result = train(job, synthetic_images(256, 32, seed=0), synthetic_images(32, 32, seed=1), out,
                               progress=False)
    return ImageTokenizer.load(out), out, result


def test_short_fit_reconstructs_below_bound(trained):
    tok, out, result = trained
    held_out = to_float(synthetic_images(32, 32, seed=1))
    rec = tok.decode(tok.encode(held_out))
    assert rec.shape == held_out.shape and rec.dtype == jnp.float32
    assert float(rec.min()) >= 0 and float(rec.max()) <= 1
    value = float(jnp.mean(psnr(held_out, rec)))
    assert value > PSNR_BOUND_DB, f"held-out PSNR {value:.2f} dB <= {PSNR_BOUND_DB} dB"
    assert abs(value - result["eval"]["psnr"]) < 1e-3  # the saved tokenizer is the evaluated one
    assert json.loads((out / "eval.json").read_text())["step"] == 100


def test_ids_shape_range_and_tokens_per_item(trained):
    tok, _, _ = trained
    x = to_float(synthetic_images(3, 32, seed=5))
    ids = tok.encode(x)
    assert ids.dtype == jnp.int32 and ids.shape == (3, tok.tokens_per_item((32, 32, 3))) == (3, 64)
    assert int(ids.min()) >= 0 and int(ids.max()) < tok.vocab_size == 1000
    wide = to_float(synthetic_images(1, 32, seed=6)).repeat(2, axis=2)  # 32x64: non-square grid
    ids = tok.encode(wide)
    assert ids.shape == (1, 128) and tok.decode(ids, grid=(8, 16)).shape == (1, 32, 64, 3)


def test_save_load_identical(trained, tmp_path):
    tok, _, _ = trained
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    x = to_float(synthetic_images(4, 32, seed=7))
    ids = tok.encode(x)
    np.testing.assert_array_equal(np.asarray(again.encode(x)), np.asarray(ids))
    np.testing.assert_array_equal(np.asarray(again.decode(ids)), np.asarray(tok.decode(ids)))
    assert not list(tmp_path.glob("*.pkl"))


def test_jit_compatible(trained):
    tok, _, _ = trained
    x = jnp.asarray(to_float(synthetic_images(2, 32, seed=8)))
    ids = jax.jit(tok.encode)(x)
    np.testing.assert_array_equal(np.asarray(ids), np.asarray(tok.encode(x)))
    np.testing.assert_array_equal(np.asarray(jax.jit(tok.decode)(ids)), np.asarray(tok.decode(ids)))


def test_bad_inputs(trained):
    tok, _, _ = trained
    ok = np.zeros((1, 32, 32, 3), np.float32)
    cases = [(ok[0], "rank 4"), (np.zeros((1, 32, 32, 1), np.float32), "3 channels"),
             (ok.astype(np.uint8), "float"), (ok + 1.5, r"\[0.0, 1.0\]"), (ok[:0], "empty"),
             (np.zeros((1, 30, 32, 3), np.float32), "multiple of 4"),
             (np.zeros((1, 1028, 4, 3), np.float32), "too long")]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            tok.encode(bad)
    with pytest.raises(ValueError, match=r"\[0, 1000\)"):
        tok.decode(np.full((1, 64), 1000))
    with pytest.raises(ValueError, match="rank 2"):
        tok.decode(np.zeros((64,), np.int32))
    with pytest.raises(ValueError, match="square"):
        tok.decode(np.zeros((1, 60), np.int32))
    with pytest.raises(ValueError, match="grid 4x4"):
        tok.decode(np.zeros((1, 64), np.int32), grid=(4, 4))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        tok.tokens_per_item((32, 32))


def test_lfq_variant_and_16x():
    cfg = ImageTokenizerConfig(channels=(4, 4), quantizer="lfq", levels=(2,) * 10)
    tok = ImageTokenizer(cfg)
    assert tok.vocab_size == 1024 and tok.downsample == 4
    ids = tok.encode(np.full((2, 8, 12, 3), 0.5, np.float32))
    assert ids.shape == (2, 6) and int(ids.min()) >= 0 and int(ids.max()) < 1024
    assert ImageTokenizerConfig(channels=(8, 8, 8, 8)).downsample == 16
    with pytest.raises(ValueError, match="all be 2"):
        ImageTokenizerConfig(quantizer="lfq", levels=(8, 8)).validate()


def test_code_groups_write_each_code_as_tokens_of_equal_share(tmp_path):
    """code_groups=2: each position's code (FSQ 8,5,5,5,8,5,5,5: 10^6 codes) becomes two adjacent tokens of 1000
    codes, low digits first; the same weights with one group give the joined ids and the same reconstruction."""
    one = ImageTokenizer(ImageTokenizerConfig(channels=(8, 8), levels=(8, 5, 5, 5, 8, 5, 5, 5)), seed=3)
    two = ImageTokenizer(dataclasses.replace(one.config, code_groups=2), model=one.model)
    assert (one.vocab_size, two.vocab_size) == (10 ** 6, 1000)
    x = to_float(synthetic_images(3, 16, seed=4))
    ids, toks = np.asarray(one.encode(x)), np.asarray(two.encode(x))
    assert toks.shape == (3, 2 * 16) == (3, two.tokens_per_item((16, 16, 3))) and toks.max() < 1000
    np.testing.assert_array_equal(toks[:, 0::2] + 1000 * toks[:, 1::2], ids)
    assert len(np.unique(ids)) > 1 and len(np.unique(toks)) > 1  # not a degenerate all-zero code
    np.testing.assert_array_equal(np.asarray(two.decode(toks)), np.asarray(one.decode(ids)))
    two.save(tmp_path / "two")
    again = load_tokenizer(tmp_path / "two")
    assert again.config.code_groups == 2
    np.testing.assert_array_equal(np.asarray(again.encode(x)), toks)
    one.save(tmp_path / "old")  # a save from before code_groups existed loads as one token per position
    cfg_file = tmp_path / "old" / "config.json"
    payload = json.loads(cfg_file.read_text())
    del payload["config"]["code_groups"]
    cfg_file.write_text(json.dumps(payload))
    np.testing.assert_array_equal(np.asarray(load_tokenizer(tmp_path / "old").encode(x)), ids)
    with pytest.raises(ValueError, match="multiple of the 2 tokens"):
        two.decode(toks[:, :-1])
    with pytest.raises(ValueError, match="grid 2x4 needs 16 tokens"):
        two.decode(toks, grid=(2, 4))
    for levels, groups, msg in (((8, 5, 5, 5, 8, 5, 5), 2, "divide the 7"), ((8, 8, 4, 4), 2, "same product"),
                                ((8, 8), 0, ">= 1")):
        with pytest.raises(ValueError, match=msg):
            ImageTokenizerConfig(levels=levels, code_groups=groups).validate()


def test_launcher_trains_with_checkpoints(tmp_path, capsys):
    """End to end through launch/train_tokenizer.py (resume exactness itself: test_tokenizers_common)."""
    launcher = launch_script("train_tokenizer")
    args = ["--modality", "image", "--config", "tiny", "--data", "synthetic", "--limit", "32", "--out",
            str(tmp_path), "--no-progress", "train.steps=4", "train.log_every=1", "train.checkpoint_every=2",
            "model.channels=[8,8]", "eval_items=4", "--until", "3"]
    assert launcher.main(args) == 0
    assert sorted(p.name for p in (tmp_path / "train" / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "3"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert not (tmp_path / "config.json").exists()  # stopped early: the weights live in the checkpoint only
    assert launcher.main(args[:-2]) == 0  # resumes at 3, finishes at 4, saves the tokenizer
    assert load_tokenizer(tmp_path).config.channels == (8, 8)
    rows = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"loss", "psnr", "grad_norm", "learning_rate", "examples_per_s", "tflops_per_device"} <= set(rows[-1])
    assert json.loads((tmp_path / "train" / "config.json").read_text())["model"]["channels"] == [8, 8]
    assert launcher.main(["--modality", "text", "--data", "synthetic", "--out", str(tmp_path / "t")]) == 2
    assert "only available for image and video" in capsys.readouterr().err


def test_chroma_loss_matches_reference_and_ignores_brightness():
    from omni_tokenizers.image.losses import chroma, chroma_loss, image_loss

    rng = np.random.default_rng(0)
    x = rng.random((2, 12, 12, 3), dtype=np.float32)
    y = rng.random((2, 12, 12, 3), dtype=np.float32)
    rb = (x[..., 0] - x[..., 2]) / np.sqrt(2)
    gm = (x[..., 1] - (x[..., 0] + x[..., 2]) / 2) / np.sqrt(1.5)
    np.testing.assert_allclose(np.asarray(chroma(x)), np.stack([rb, gm], -1), atol=1e-6)
    ref = np.mean(np.abs(np.asarray(chroma(x)) - np.asarray(chroma(y))))
    assert abs(float(chroma_loss(x, y)) - ref) < 1e-6
    assert float(chroma_loss(x, x + 0.2)) < 1e-6  # brightness alone is not a colour change
    base, parts = image_loss(x, y, 1.0, 1.0, 0.1, 0.1)
    total, parts2 = image_loss(x, y, 1.0, 1.0, 0.1, 0.1, w_chroma=2.0)
    assert "chroma" not in parts and abs(float(total) - float(base) - 2.0 * ref) < 1e-5


def test_fullres_preset_sits_at_full_resolution_webp_floor():
    """fullres: 64x64 -> 8x8 positions x 2 tokens of 1000 codes = 1276 bits, in WebP's full-resolution floor
    (~1250-1300)."""
    job = preset("image", "fullres")
    tok = ImageTokenizer(job.model)
    x = np.full((2, 64, 64, 3), 0.5, np.float32)
    ids = tok.encode(x)
    bits = ids.shape[1] * np.log2(tok.vocab_size)
    assert ids.shape == (2, 128) and tok.vocab_size == 1000 and 1250 <= bits <= 1300
    assert tok.decode(ids, grid=(8, 8)).shape == tok.decode(ids).shape == x.shape
    with pytest.raises(ValueError, match="fullres"):
        preset("image", "nope")
