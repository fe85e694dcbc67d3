"""omni.sampling.score: span log-likelihoods against a plain forward, and `omni.sample(candidates=K)` keeping the
candidate its reranker scores highest."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

import omni
from omni.attention import MaskInfo
from omni.data import tasks
from omni.sampling import score
from omni.sampling.decode_loop import Controls, PromptBatch, strip
from omni.sampling.loaded import LoadedModel
from omni.sampling.prompt import Tokens
from omni.sampling.targets import plan_target
from tests.sample_utils import tiny_config, tiny_model


@pytest.fixture(scope="module")
def lm():
    cfg = tiny_config()
    return LoadedModel.from_model(tiny_model(cfg, seed=5), cfg)


def _reference(lm, conditioning, target) -> float:
    """log p(target | conditioning) from the plain forward's logits, one unpadded row."""
    ex = score.example(lm, conditioning, target)
    n = len(ex["inputs"])
    model = lm.model
    h = model(ex["inputs"][None], ex["input_modality"][None],
              MaskInfo(np.ones((1, n), np.int32), np.arange(n, dtype=np.int32)[None], ex["span_ids"][None]))
    logp = np.asarray(jax.nn.log_softmax(model.logits(h, ex["target_modality"][None])[0], axis=-1))
    picked = logp[np.arange(n), ex["targets"]]
    return float((picked * ex["loss_mask"]).sum())


def test_log_likelihood_matches_the_plain_forward_for_rows_of_any_length(lm):
    rows = [([("text", np.array([5, 9, 2]))], ("image", np.arange(16) % 16)),
            ([("image", np.arange(16)[::-1] % 16)], ("text", np.array([7, 1, 4, 4]))),
            ([("text", np.array([3]))], ("audio", tasks.audio_to_sequence(np.array([[1, 2, 3], [30, 31, 0]]), 2))),
            ([], ("text", np.array([8, 8])))]
    rows = rows * 5  # 20 rows: two scoring calls, the second padded
    ll, n = score.log_likelihood(lm, rows)
    want = [_reference(lm, c, t) for c, t in rows[:4]]
    np.testing.assert_allclose(ll[:4], want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ll[16:], ll[:4], rtol=1e-5)
    # image: 16 codes (its end marker is inserted, never sampled); text and audio: codes + their end marker
    np.testing.assert_array_equal(n[:4], [16, 5, 7, 3])
    assert (ll < 0).all()


def _candidates(lm, prompt, target, K, controls):
    """The K candidates `omni.sample(candidates=K)` draws for one prompt (the same batch, seed and plan)."""
    conds = [("text", np.asarray(prompt.ids))]
    row = tasks.prompt(lm.vocab, score.task_of(conds, target), conds, target)
    plan = plan_target(lm.vocab, lm.spec, target, max_new_tokens=6)
    out = lm.decoder().generate(PromptBatch.pad([row] * K), plan, controls)
    return conds, [lm.vocab.to_local(target, strip(r, plan)) for r in out]


@pytest.mark.parametrize("how", score.RERANKERS)
def test_candidates_keep_the_one_the_reranker_scores_highest(lm, how):
    prompt, K = Tokens("text", np.array([5, 9, 2, 11])), 4
    got = omni.sample(lm, [prompt], to="text", temperature=1.5, seed=7, max_new_tokens=6, decode=False,
                      candidates=K, rerank=how)
    conds, cands = _candidates(lm, prompt, "text", K, Controls(temperature=1.5, seed=7))
    assert len({tuple(c) for c in cands}) > 1  # the candidates differ, so the choice matters
    fwd, _ = score.log_likelihood(lm, [(conds, ("text", c)) for c in cands])
    rev, _ = score.log_likelihood(lm, [([("text", c)], conds[0]) for c in cands])
    want = {"forward": fwd, "reverse": rev, "bidirectional": fwd + rev}[how]
    best = int(np.argmax(want))
    np.testing.assert_array_equal(got.tokens, cands[best])
    assert got.outputs[0].score == pytest.approx(want[best], rel=1e-4)


def test_one_candidate_is_plain_sampling_and_bad_options_are_refused(lm):
    prompt = [Tokens("text", np.array([5, 9]))]
    one = omni.sample(lm, prompt, to="image", seed=3, decode=False)
    assert one.outputs[0].score is None
    np.testing.assert_array_equal(one.tokens, omni.sample(lm, prompt, to="image", seed=3, decode=False,
                                                          candidates=1, rerank="forward").tokens)
    with pytest.raises(ValueError, match="candidates must be a whole number >= 1"):
        omni.sample(lm, prompt, to="image", decode=False, candidates=0)
    with pytest.raises(ValueError, match="needs temperature > 0"):
        omni.sample(lm, prompt, to="image", decode=False, candidates=2, temperature=0.0)
    with pytest.raises(ValueError, match="unknown rerank 'best'"):
        omni.sample(lm, prompt, to="image", decode=False, candidates=2, rerank="best")
    text_only = dataclasses.replace(lm, spec=dataclasses.replace(lm.spec, trained_targets=("image",)), _decoder=None)
    with pytest.raises(ValueError, match="needs a prompt item the model can generate"):
        omni.sample(text_only, prompt, to="image", decode=False, candidates=2)
    # scoring uses the same weights the decoder holds
    assert nnx.split(lm.model)[0] == lm.decoder().graphdef
