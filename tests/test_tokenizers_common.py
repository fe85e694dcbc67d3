"""Quantizers, metrics, save/load helpers, the registry, the training loop and the unified vocabulary."""
import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from omni_tokenizers import registry
from omni_tokenizers.core import base
from omni_tokenizers.core.quantizers import FSQ, LFQ, code_histogram, codebook_usage, make_quantizer
from omni_tokenizers.image.metrics import psnr, ssim

# ---- quantizers -------------------------------------------------------------------------------

@pytest.mark.parametrize("levels", [(8, 8, 8, 8), (7, 5, 5, 5, 5), (2, 3)])
def test_fsq_ids_in_range_and_bijective(levels):
    q = FSQ(levels)
    z = jax.random.normal(jax.random.key(0), (4096, len(levels))) * 4
    zq, ids = jax.jit(q.__call__)(z)
    assert ids.dtype == jnp.int32 and int(ids.min()) >= 0 and int(ids.max()) < q.codebook_size
    np.testing.assert_array_equal(np.asarray(q.ids_to_codes(ids)), np.asarray(zq))
    every = jnp.arange(q.codebook_size)
    np.testing.assert_array_equal(np.asarray(q.codes_to_ids(q.ids_to_codes(every))), np.asarray(every))
    # each channel takes exactly levels[i] distinct values
    for i, n in enumerate(levels):
        assert len(np.unique(np.asarray(q.ids_to_codes(every))[:, i])) == n


def test_fsq_straight_through_gradient():
    q = FSQ((8, 5, 5, 5))
    z = jax.random.normal(jax.random.key(1), (64, 4))
    g = jax.grad(lambda z: jnp.sum(q(z)[0] * 3.0))(z)
    _, _, _, half_width, _ = q._consts()
    expected = jax.grad(lambda z: jnp.sum(q.bound(z) / half_width * 3.0))(z)  # rounding passes gradients through
    np.testing.assert_allclose(np.asarray(g), np.asarray(expected), rtol=1e-6)
    assert float(jnp.abs(g).min()) > 0


def test_lfq_ids_gradient_entropy():
    q = LFQ(10)
    z = jax.random.normal(jax.random.key(2), (2048, 10))
    zq, ids = q(z)
    assert int(ids.min()) >= 0 and int(ids.max()) < 1024
    np.testing.assert_array_equal(np.asarray(q.ids_to_codes(ids)), np.sign(np.asarray(z)))
    every = jnp.arange(1024)
    np.testing.assert_array_equal(np.asarray(q.codes_to_ids(q.ids_to_codes(every))), np.asarray(every))
    g = jax.grad(lambda z: jnp.sum(q(z)[0] * 2.0))(z)
    np.testing.assert_allclose(np.asarray(g), 2.0)  # identity straight-through
    per_sample, codebook = q.entropy_loss(z)
    # confident codes (|z| >> temperature): per-sample entropy ~ 0; balanced random signs: ~ 10 ln 2
    assert float(per_sample) < 0.05
    assert abs(float(codebook) - 10 * np.log(2)) < 0.05
    _, collapsed = q.entropy_loss(jnp.abs(z) + 1.0)  # every code the same
    assert float(collapsed) < 0.05


def test_quantizer_errors():
    with pytest.raises(ValueError, match=">= 2"):
        FSQ((8, 1))
    with pytest.raises(ValueError, match="all be 2"):
        make_quantizer("lfq", (2, 3))
    with pytest.raises(ValueError, match="'fsq' or 'lfq'"):
        make_quantizer("vq", (8,))
    with pytest.raises(ValueError, match="4 channels"):
        FSQ((8, 8, 8, 8))(jnp.zeros((2, 3)))


def test_codebook_usage():
    ids = np.array([0, 0, 1, 3])
    u = codebook_usage(ids, 8)
    assert u["usage"] == 3 / 8 and u["codes_used"] == 3
    p = np.array([0.5, 0.25, 0.25])
    assert abs(u["perplexity"] - np.exp(-(p * np.log(p)).sum())) < 1e-9
    np.testing.assert_array_equal(np.asarray(code_histogram(jnp.asarray(ids), 4)), [2, 1, 0, 1])


# ---- metrics vs scikit-image ------------------------------------------------------------------

def test_psnr_ssim_match_skimage():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    rng = np.random.default_rng(0)
    x = rng.random((2, 40, 36, 3)).astype(np.float32)
    x = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3  # some spatial correlation
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    for i in range(2):
        ref_p = peak_signal_noise_ratio(x[i], y[i], data_range=1.0)
        ref_s = structural_similarity(x[i], y[i], channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0)
        assert abs(float(psnr(x, y)[i]) - ref_p) < 1e-3
        assert abs(float(ssim(x, y)[i]) - ref_s) < 1e-4


# ---- base helpers -----------------------------------------------------------------------------

class _Tiny(nnx.Module):
    def __init__(self, seed):
        r = nnx.Rngs(seed)
        self.layers = nnx.List([nnx.Linear(3, 4, rngs=r), nnx.Linear(4, 2, rngs=r)])
        self.norm = nnx.BatchNorm(2, rngs=r)


def test_save_load_module_roundtrip(tmp_path):
    a, b = _Tiny(0), _Tiny(1)
    base.save_module(a, tmp_path)
    base.load_module(b, tmp_path)
    for k, v in base.module_arrays(a).items():
        np.testing.assert_array_equal(v, base.module_arrays(b)[k])
    assert not list(tmp_path.glob("*.pkl")) and (tmp_path / base.WEIGHTS_FILE).is_file()


def test_load_module_shape_mismatch(tmp_path):
    base.save_module(_Tiny(0), tmp_path)

    class Other(nnx.Module):
        def __init__(self):
            r = nnx.Rngs(0)
            self.layers = nnx.List([nnx.Linear(3, 5, rngs=r), nnx.Linear(5, 2, rngs=r)])
            self.norm = nnx.BatchNorm(2, rngs=r)

    with pytest.raises(ValueError, match="shape"):
        base.load_module(Other(), tmp_path)


def test_config_version_and_kind(tmp_path):
    base.write_config(tmp_path, "image_conv", "image", {"a": 1})
    assert base.read_config(tmp_path, "image_conv")["config"] == {"a": 1}
    with pytest.raises(ValueError, match="expected 'video_causal'"):
        base.read_config(tmp_path, "video_causal")
    d = json.loads((tmp_path / "config.json").read_text())
    d["format_version"] = 99
    (tmp_path / "config.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="format_version"):
        base.read_config(tmp_path)
    with pytest.raises(ValueError, match="no tokenizer"):
        base.read_config(tmp_path / "missing")


def test_check_helpers():
    good = np.zeros((2, 8, 8, 3), np.float32)
    base.check_media(good, "x", "B,H,W,3")
    f32 = np.float32
    for bad, msg in [(np.zeros((8, 8, 3), f32), "rank 4"), (np.zeros((2, 8, 8, 4), f32), "3 channels"),
                     (np.zeros((2, 8, 8, 3), np.uint8), "float"), (np.full((2, 8, 8, 3), 2.0, f32), r"\[0.0, 1.0\]"),
                     (np.zeros((0, 8, 8, 3), f32), "empty"), (np.full((1, 8, 8, 3), np.nan, f32), "finite")]:
        with pytest.raises(ValueError, match=msg):
            base.check_media(bad, "x", "B,H,W,3")
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        base.check_ids(np.array([[0, 10]]), 10, "ids")
    with pytest.raises(ValueError, match="integer"):
        base.check_ids(np.array([[0.0]]), 10, "ids")
    with pytest.raises(ValueError, match="resample=True"):
        base.check_sample_rate(8000, 16000, resample=False)
    assert base.check_sample_rate(8000, 16000, resample=True)


# ---- registry ---------------------------------------------------------------------------------

def test_registry_dispatch_and_load_all(tmp_path):
    from omni_tokenizers.image import ImageTokenizer, ImageTokenizerConfig
    tok = ImageTokenizer(ImageTokenizerConfig(channels=(8, 8), levels=(5, 5)))
    tok.save(tmp_path / "image")
    loaded = registry.load_tokenizer(tmp_path / "image")
    assert isinstance(loaded, ImageTokenizer) and loaded.vocab_size == 25
    assert set(registry.load_all(tmp_path)) == {"image"}
    tok.save(tmp_path / "video")  # an image tokenizer in the video folder is refused
    with pytest.raises(ValueError, match="expected 'video'"):
        registry.load_all(tmp_path)
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        registry.tokenizer_class("nope")
    assert {"text_sentencepiece", "image_conv", "video_causal", "audio_rvq"} <= set(registry.TOKENIZERS.names())
    for kind, cls in registry.TOKENIZERS.items():
        assert cls.kind == kind and registry.tokenizer_class(kind) is cls


def test_loading_a_text_tokenizer_imports_no_other_modality(tmp_path):
    """Kinds are imported on first use: a text tokenizer loads without the image, video or audio modules."""
    import subprocess
    import sys

    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
    TextTokenizer.train([f"line {i} of some text" for i in range(200)], TextTokenizerConfig(vocab_size=300)).save(
        tmp_path / "text")
    code = ("import sys; from omni_tokenizers.registry import load_all; toks = load_all(sys.argv[1]); "
            "print(sorted(toks), sorted(m for m in sys.modules if m.startswith('omni_tokenizers.')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("['text']"), out.stdout
    for other in ("omni_tokenizers.image", "omni_tokenizers.video", "omni_tokenizers.audio"):
        assert f"'{other}" not in out.stdout, out.stdout


# ---- training through the one loop --------------------------------------------------------------

class _Lin(nnx.Module):
    def __init__(self):
        self.lin = nnx.Linear(4, 1, rngs=nnx.Rngs(0))


W_TRUE = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
_X = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)


def _lin_fit(out, until=None, model=None, **train):
    from omni_tokenizers.core.training import fit

    from omni.config import LoopConfig, MeshConfig

    loop = LoopConfig(**{**dict(steps=60, batch_size=16, learning_rate=0.1, warmup_steps=5, log_every=10,
                                eval_every=30, checkpoint_every=20), **train})

    @dataclasses.dataclass
    class Job:
        model: dict = dataclasses.field(default_factory=lambda: model or {"kind": "linear"})
        train: LoopConfig = loop
        mesh: MeshConfig = MeshConfig()

    class Tok:  # the minimal tokenizer surface fit() needs: a model, refresh, save
        model = _Lin()

        def refresh(self):
            pass

        def save(self, d):
            (pathlib.Path(d) / "w.json").write_text(json.dumps(np.asarray(self.model.lin.kernel[...]).tolist()))

    def loss(m, batch, key):
        mse = jnp.mean((m.lin(batch["x"])[:, 0] - batch["y"]) ** 2)
        return mse, {"mse": mse}

    tok = Tok()
    result = fit("linear", Job(), tok, loss, _X, lambda x, rng: {"x": x, "y": x @ W_TRUE}, out,
                 evaluate=lambda t: {"w0": float(t.model.lin.kernel[0, 0])}, init=_Lin, progress=False, until=until)
    return tok, result


def test_fit_through_the_one_loop_learns_and_resumes_exactly(tmp_path):
    straight, r = _lin_fit(tmp_path / "a")
    initial = float(jnp.mean((_Lin().lin(_X)[:, 0] - _X @ W_TRUE) ** 2))
    assert r["last"]["mse"] < 0.05 * initial  # it learns
    assert abs(r["eval"]["w0"] - 1.0) < 0.2
    rows = [json.loads(line) for line in (tmp_path / "a" / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows if x["kind"] == "eval"] == [30, 60]
    assert [x["step"] for x in rows if x["kind"] == "train"] == [10, 20, 30, 40, 50, 60]
    assert (tmp_path / "a" / "w.json").is_file() and (tmp_path / "a" / "eval.json").is_file()
    assert json.loads((tmp_path / "a" / "train" / "config.json").read_text())["train"]["steps"] == 60
    assert _lin_fit(tmp_path / "b", until=37)[1]["step"] == 37
    resumed, _ = _lin_fit(tmp_path / "b")
    np.testing.assert_array_equal(np.asarray(resumed.model.lin.kernel[...]), np.asarray(straight.model.lin.kernel[...]))
    with pytest.raises(ValueError, match="another model"):  # a checkpoint of another model is not resumed
        _lin_fit(tmp_path / "b", model={"kind": "other"}, steps=80)


def test_colour_permutation_keeps_each_pixels_values_and_draws_the_five_other_orders():
    from omni_tokenizers.core.autoencoder_train import media_transform
    from omni_tokenizers.core.data import permute_channels
    # [F, H, W, 3]; channel c holds values in [80c, 80c + 70), so a value names the channel it came from
    x = (np.random.default_rng(0).integers(0, 70, (3, 4, 5, 3)) + [0, 80, 160]).astype(np.uint8)
    rng = np.random.default_rng(1)
    assert all(permute_channels(x, rng, 0.0) is x for _ in range(50))
    orders = []
    for _ in range(3000):
        y = permute_channels(x, rng, 1.0)
        order = tuple(int(c) for c in y[0, 0, 0] // 80)
        assert sorted(order) == [0, 1, 2], order  # a permutation, so the check below means "the same values"
        np.testing.assert_array_equal(y, x[..., list(order)])  # every pixel: its own three values, reordered
        orders.append(order)
    counts = {o: orders.count(o) for o in set(orders)}
    assert (0, 1, 2) not in counts and len(counts) == 5
    assert all(abs(c / 3000 - 0.2) < 0.03 for c in counts.values()), counts  # uniform: sd 0.007
    moved = sum(permute_channels(x, rng, 0.5) is not x for _ in range(4000)) / 4000
    assert abs(moved - 0.5) < 0.03  # sd 0.008
    # in the trainers' transform (flip, then permute): the same item key gives the same result
    t = media_transform(True, 2, 0.5)
    a, b = (t(x, np.random.default_rng(7))["media"] for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape


def test_colour_permute_must_be_a_probability():
    from omni_tokenizers.trainers import preset
    for m in ("image", "video"):
        job = preset(m, "tiny")
        job.colour_permute = 1.5
        with pytest.raises(ValueError, match=r"colour_permute must be a probability in \[0, 1\], got 1.5"):
            job.validate()


def test_source_weights_are_checked_and_need_a_corpus(tmp_path, repo_root):
    import subprocess
    import sys

    from omni_tokenizers.core.data import FieldSource, weigh_sources
    from omni_tokenizers.trainers import preset
    for m in ("image", "video", "audio", "text"):
        for weights, msg in (((("a", -1.0),), "source_weights must be finite and >= 0, got a=-1.0"),
                             ((("a", 1.0), ("a", 2.0)), "source_weights names each source once")):
            job = preset(m, "tiny")
            job.source_weights = weights
            with pytest.raises(ValueError, match=msg):
                job.validate()
    assert preset("audio", "demo").source_weights == (("numbers", 0.15),)
    with pytest.raises(ValueError, match="needs an indexed FieldSource"):
        weigh_sources(FieldSource([{"text": "x", "source": "a"}], "text"), (("a", 1.0),))
    items = FieldSource([{"text": "x", "source": "a"}, {"text": "", "source": "b"}, {"text": "y"}], "text", index=True)
    assert (len(items), items.sources) == (2, ["a", ""])       # an absent item is not indexed; no source is ""
    r = subprocess.run([sys.executable, str(repo_root / "launch" / "train_tokenizer.py"), "--modality", "image",
                        "--config", "tiny", "--data", "synthetic", "--out", str(tmp_path / "t"),
                        'source_weights=[["numbers",0.5]]'], capture_output=True, text=True, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "source_weights weigh the sources of a corpus built by launch/build_corpus.py" in lines[0]
    assert not (tmp_path / "t").exists()


# ---- unified vocabulary from the tokenizers ---------------------------------------------------

def test_vocab_ranges_disjoint_and_complete():
    from omni_tokenizers.image import ImageAutoencoder, ImageTokenizer, ImageTokenizerConfig
    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
    from omni_tokenizers.video import VideoAutoencoder, VideoTokenizer, VideoTokenizerConfig

    from omni.config import DEFAULT_TASK_TOKENS
    from omni.vocab import UnifiedVocab

    text = TextTokenizer.train([f"line {i} of some text, repeated words words." for i in range(200)],
                               TextTokenizerConfig(vocab_size=300))
    icfg = ImageTokenizerConfig(channels=(8, 8), levels=(8, 8, 8, 8))
    vcfg = VideoTokenizerConfig(channels=(8, 8), kts=(1, 1), levels=(8, 5, 5, 5))
    # shape-only weights: only the vocabulary sizes matter here
    toks = {"text": text,
            "image": ImageTokenizer(icfg, base.abstract_module(lambda r: ImageAutoencoder(icfg, r))),
            "video": VideoTokenizer(vcfg, base.abstract_module(lambda r: VideoAutoencoder(vcfg, r)))}
    try:
        from omni_tokenizers.audio import AudioTokenizer
        from omni_tokenizers.audio.codec import AudioCodec, AudioCodecConfig
        toks["audio"] = AudioTokenizer(AudioCodecConfig(), nnx.eval_shape(lambda: AudioCodec(AudioCodecConfig())))
    except ImportError:  # the audio module is optional for this check
        pass
    vocab = UnifiedVocab.create({m: t.vocab_size for m, t in toks.items()}, DEFAULT_TASK_TOKENS)
    covered = np.zeros(vocab.size, np.int32)
    for m in vocab.modalities:
        a, b = vocab.range(m)
        covered[a:b] += 1
        local = np.array([0, toks[m].vocab_size - 1])
        g = vocab.to_global(m, local)
        assert a <= g.min() and g.max() < b
        np.testing.assert_array_equal(vocab.to_local(m, g), local)
        assert vocab.end_id(m) in range(a, b)
        assert vocab.num_codes(m) == toks[m].vocab_size
    np.testing.assert_array_equal(covered, 1)  # disjoint and complete
    with pytest.raises(ValueError):
        vocab.to_global("image", [toks["image"].vocab_size])


def test_base_presets_are_typed_with_their_tokens_per_item():
    """Pod-scale presets (`base` in configs/tokenizers_*.py): shapes only, nothing allocated."""
    from omni_tokenizers.programs import abstract_tokenizer, item_shape
    from omni_tokenizers.trainers import preset

    for m, shape, tokens in (("image", (256, 256, 3), 256), ("video", (17, 128, 128, 3), 1280)):
        job = preset(m, "base").validate()
        assert item_shape(m, job) == shape
        assert abstract_tokenizer(m, job).tokens_per_item(shape) == tokens
    audio = preset("audio", "base").validate()
    assert abstract_tokenizer("audio", audio).tokens_per_item((16000,)) == 400  # 50 frames/s x 8 levels
    assert preset("text", "base").validate().model.vocab_size == 32000


def test_no_tokenizer_module_builds_its_own_optimizer_or_checkpoints(repo_root):
    """The one trainer (omni/train) owns optimizers, checkpoints and metrics; tokenizers/ only describes tasks."""
    import re
    for path in sorted((repo_root / "tokenizers").rglob("*.py")):
        src = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(optax|orbax)", src, re.M), path.name
        assert "CheckpointManager" not in src and "MetricsWriter" not in src, path.name


def test_imports_flow_one_way_between_omni_data_tokenize_and_tokenizers(repo_root):
    """omni.data.tokenize runs trained tokenizers (it imports omni_tokenizers); nothing under tokenizers/ imports
    it back (what both need, the corpus media shapes, lives in omni.data.corpus.spec)."""
    import re
    for path in sorted((repo_root / "tokenizers").rglob("*.py")):
        src = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+omni\.data(\.tokenize\b|\s+import\s+tokenize\b)", src, re.M), path
    src = (repo_root / "omni" / "data" / "tokenize.py").read_text()
    assert re.search(r"^from omni_tokenizers\.registry import load_all$", src, re.M)
