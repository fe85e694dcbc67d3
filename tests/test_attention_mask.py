"""The mask rule against a brute-force reference on random packed batches; the XLA reference attention."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omni.attention import MaskInfo, attention, resolve_impl, visible
from omni.config import load_config
from tests.model_utils import random_batch


def _brute(seg, pos, span):
    B, L = seg.shape
    out = np.zeros((B, L, L), bool)
    for b in range(B):
        for i in range(L):
            for j in range(L):
                same = seg[b, i] == seg[b, j] and seg[b, i] != 0
                out[b, i, j] = same and (j <= i or (span[b, i] == span[b, j] and span[b, i] != 0))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_rule_matches_brute_force(seed):
    b = random_batch(load_config("tiny").vocab.build(), 3, 48, seed=seed)
    info = MaskInfo(*(jnp.asarray(b[k]) for k in ("segment_ids", "positions", "span_ids")))
    np.testing.assert_array_equal(np.asarray(visible(info, info)),
                                  _brute(b["segment_ids"], b["positions"], b["span_ids"]))


def test_xla_attention_matches_naive_and_zero_rows():
    rng = np.random.default_rng(0)
    B, L, H, Hkv, D = 2, 24, 4, 2, 8
    b = random_batch(load_config("tiny").vocab.build(), B, L, seed=4)
    b["segment_ids"][0, -5:] = 0  # padding rows: no visible key
    q, k, v = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in ((B, L, H, D), (B, L, Hkv, D), (B, L, Hkv, D)))
    info = MaskInfo(*(jnp.asarray(b[x]) for x in ("segment_ids", "positions", "span_ids")))
    out = np.asarray(attention(q, k, v, info, impl="xla"))
    mask = _brute(b["segment_ids"], b["positions"], b["span_ids"])
    for bb in range(B):
        for h in range(H):
            kk, vv = np.asarray(k[bb, :, h // (H // Hkv)]), np.asarray(v[bb, :, h // (H // Hkv)])
            s = np.asarray(q[bb, :, h]) @ kk.T / np.sqrt(D)
            for i in range(L):
                if not mask[bb, i].any():
                    np.testing.assert_array_equal(out[bb, i, h], 0.0)
                    continue
                w = np.exp(s[i][mask[bb, i]] - s[i][mask[bb, i]].max())
                np.testing.assert_allclose(out[bb, i, h], (w / w.sum()) @ vv[mask[bb, i]], atol=1e-5)
    g = jax.grad(lambda q: attention(q, k, v, info).sum())(q)
    assert np.isfinite(np.asarray(g)).all()


def test_unknown_impl_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown attention impl"):
        resolve_impl("flash9000")
    assert resolve_impl("auto", backend="cpu") == "xla"
