"""Sampling filters (top-k, top-p, CFG, temperature) vs NumPy references; target structure plans."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omni.config import load_config
from omni.sampling import filters
from omni.sampling.spec import SamplingSpec
from omni.sampling.targets import default_budget, fit_budget, plan_target
from tests.sample_utils import tiny_config

NEG = filters.NEG
_filter = jax.jit(filters.filter_top_k_top_p)  # one compile per shape instead of op-by-op dispatch
_choose = jax.jit(filters.choose)


def _np_nucleus(logits: np.ndarray, top_p: float) -> np.ndarray:
    """Reference: the smallest set of most likely ids whose probability reaches top_p."""
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)
    cum = np.cumsum(p[order])
    n = int(np.searchsorted(cum, top_p) + 1)
    keep = np.zeros_like(logits, bool)
    keep[order[:min(n, len(p))]] = True
    return keep


def test_top_k_keeps_exactly_the_k_best():
    logits = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    out = np.asarray(_filter(jnp.asarray(logits), jnp.int32(7), jnp.float32(1.0)))
    for row, o in zip(logits, out):
        want = set(np.argsort(-row)[:7])
        assert set(np.nonzero(o > NEG / 2)[0]) == want
        np.testing.assert_array_equal(o[list(want)], row[list(want)])


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.999])
def test_top_p_matches_numpy_nucleus(top_p):
    logits = np.random.default_rng(1).normal(size=(6, 40)).astype(np.float32) * 2
    out = np.asarray(_filter(jnp.asarray(logits), jnp.int32(0), jnp.float32(top_p)))
    for row, o in zip(logits, out):
        np.testing.assert_array_equal(o > NEG / 2, _np_nucleus(row, top_p))


def test_filters_never_revive_forbidden_ids():
    logits = np.full((1, 10), NEG, np.float32)
    logits[0, [2, 5]] = [1.0, 0.5]
    out = np.asarray(_filter(jnp.asarray(logits), jnp.int32(5), jnp.float32(1.0)))
    assert set(np.nonzero(out[0] > NEG / 2)[0]) == {2, 5}


def test_guidance_formula_and_mask():
    c = np.array([[1.0, 2.0, NEG]], np.float32)
    u = np.array([[0.5, 3.0, NEG]], np.float32)
    g = np.asarray(filters.guide(jnp.asarray(c), jnp.asarray(u), jnp.float32(3.0)))
    np.testing.assert_allclose(g[0, :2], u[0, :2] + 3.0 * (c[0, :2] - u[0, :2]), rtol=1e-6)
    assert g[0, 2] == NEG


def test_choose_greedy_seeded_and_distribution():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]] * 20000, jnp.float32))
    key = jax.random.key(3)
    greedy = np.asarray(_choose(key, logits, jnp.float32(0.0), jnp.int32(0), jnp.float32(1.0)))
    assert (greedy == 0).all()
    a = np.asarray(_choose(key, logits, jnp.float32(1.0), jnp.int32(2), jnp.float32(1.0)))
    b = np.asarray(_choose(key, logits, jnp.float32(1.0), jnp.int32(2), jnp.float32(1.0)))
    np.testing.assert_array_equal(a, b)
    # top-k=2 renormalizes to (0.625, 0.375); 20000 draws: 4 standard errors = 0.014
    assert set(np.unique(a)) == {0, 1}
    assert abs((a == 0).mean() - 0.625) < 0.014


def test_plans_enforce_structure():
    cfg = tiny_config()
    vocab = cfg.vocab.build()
    spec = SamplingSpec(image_tokens=16, video_tokens=12, audio_quantizers=2, audio_codebook=32)
    img = plan_target(vocab, spec, "image")
    a, z = vocab.range("image")
    assert (img.fixed_len, img.max_new, img.end_id) == (16, 17, z - 1)
    assert np.nonzero(img.allowed[0])[0].tolist() == list(range(a, z - 1))  # codes, never the end marker
    txt = plan_target(vocab, spec, "text", max_new_tokens=8)
    allowed = np.nonzero(txt.allowed[0])[0]
    assert txt.max_new == 9 and allowed.min() == vocab.code_offset("text")  # no specials, no markers
    aud = plan_target(vocab, spec, "audio", max_seconds=0.1)
    off = vocab.code_offset("audio")
    assert aud.period == 2 and aud.max_new == 5 * 2 + 1 and aud.min_new == 2
    assert np.nonzero(aud.allowed[0])[0].tolist() == list(range(off, off + 32))
    assert np.nonzero(aud.allowed[1])[0].tolist() == list(range(off + 32, off + 64))
    assert fit_budget(aud, 8).max_new == 7  # 3 whole frames + end
    assert fit_budget(img, 3) is img         # fixed lengths are never shortened


def test_default_audio_budget_stops_at_the_trained_sequence_length():
    cfg = load_config("demo")                      # rows of 256, positions up to 512
    assert (cfg.train.seq_len, cfg.model.max_seq_len) == (256, 512)
    assert default_budget(cfg, "audio", 12, 2) == 256 - 12     # speech after a short text: what training held
    assert default_budget(cfg, "text", 12, 1) == 512 - 12      # other outputs: the model's whole length
    assert default_budget(cfg, "image", 12, 64) == 512 - 12
    assert default_budget(cfg, "audio", 255, 2) == 512 - 255   # no room left in 256: the whole length again


def test_untrained_and_unknown_targets_are_clear_errors():
    vocab = tiny_config().vocab.build()
    spec = SamplingSpec(trained_targets=("text", "image"))
    with pytest.raises(ValueError, match="not trained to generate 'audio'"):
        plan_target(vocab, spec, "audio")
    with pytest.raises(ValueError, match="cannot generate 'smell'"):
        plan_target(vocab, spec, "smell")
