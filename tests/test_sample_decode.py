"""The jitted KV-cache decoder: equal to recomputing the prefix and to the plain forward, batched rows
independent, controls traced (no recompilation), CFG, structure of fixed/variable targets, chaining."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import omni
from omni import modality as mod
from omni.attention import MaskInfo
from omni.data import tasks
from omni.sampling import decode_loop as dec
from omni.sampling.decode_loop import Controls, Decoder, PromptBatch
from omni.sampling.loaded import LoadedModel
from omni.sampling.prompt import Tokens
from omni.sampling.targets import plan_target
from tests.sample_utils import tiny_config, tiny_model

GREEDY = Controls(temperature=0.0)


@pytest.fixture(scope="module")
def lm():
    cfg = tiny_config()
    return LoadedModel.from_model(tiny_model(cfg, seed=3), cfg)


def _prompt(lm, words, target="image"):
    return tasks.prompt(lm.vocab, tasks.task_token(["text"], target), [("text", np.asarray(words))], target)


def _reference_logits(lm, prompts, target):
    """Plain full forward (no cache) over right-padded prompts -> fp32 logits at each prompt's last token."""
    pb = PromptBatch.pad(prompts)
    seg = (np.arange(pb.width)[None] < pb.lengths[:, None]).astype(np.int32)
    pos = np.broadcast_to(np.arange(pb.width, dtype=np.int32), seg.shape)

    graphdef, state = nnx.split(lm.model)

    @jax.jit
    def fwd(state, tokens, mods, seg, pos, spans):
        model = nnx.merge(graphdef, state)
        h = model(tokens, mods, MaskInfo(seg, pos, spans))
        return model.logits(h, jnp.full(tokens.shape, mod.modality_id(target)))
    logits = np.asarray(fwd(state, pb.tokens, pb.modality, seg, pos, pb.span_ids))
    return logits[np.arange(pb.rows), pb.lengths - 1]


def test_kv_cache_matches_recompute_and_forward(lm):
    d = lm.decoder()
    p = _prompt(lm, [5, 9, 2])
    plan = plan_target(lm.vocab, lm.spec, "image")
    cached = d.generate(PromptBatch.pad([p]), plan, GREEDY)
    recomputed = d.generate(PromptBatch.pad([p]), plan, GREEDY, use_cache=False)
    np.testing.assert_array_equal(cached, recomputed)
    a, z = lm.vocab.range("image")
    row = cached[0]
    assert len(row) == 17 and row[16] == z - 1                   # exactly 16 codes, then the inserted end
    assert ((row[:16] >= a) & (row[:16] < z - 1)).all()
    # token 0 is the argmax of the plain forward's logits over the image codes
    ref = _reference_logits(lm, [p, p], "image")[0]
    assert row[0] == np.argmax(np.where(plan.allowed[0], ref, -np.inf))


def test_kv_cache_matches_recompute_with_code_digits():
    # the digit vectors (model.code_levels) enter the cached decode, the recomputed one and the plain forward alike
    cfg = tiny_config('model.code_levels=[["image", [4, 4]]]')
    glm = LoadedModel.from_model(tiny_model(cfg, seed=3), cfg)
    d = glm.decoder()
    p = _prompt(glm, [5, 9, 2])
    plan = plan_target(glm.vocab, glm.spec, "image")
    cached = d.generate(PromptBatch.pad([p]), plan, GREEDY)
    np.testing.assert_array_equal(cached, d.generate(PromptBatch.pad([p]), plan, GREEDY, use_cache=False))
    ref = _reference_logits(glm, [p, p], "image")[0]
    assert cached[0, 0] == np.argmax(np.where(plan.allowed[0], ref, -np.inf))


def test_text_target_samples_only_text_codes_and_eos(lm):
    d = lm.decoder()
    plan = plan_target(lm.vocab, lm.spec, "text", max_new_tokens=16)  # same program as the image test
    out = d.generate(PromptBatch.pad([_prompt(lm, [7, 1, 4], "text")]), plan, Controls(temperature=1.5))
    codes = dec.strip(out[0], plan)
    assert codes.size and (codes >= lm.vocab.code_offset("text")).all()
    after = out[0][len(codes):]
    assert after.size == 0 or (after[0] == lm.vocab.eos_id and (after[1:] == 0).all())


def test_batched_rows_equal_single_prompts(lm):
    d = lm.decoder()
    plan = plan_target(lm.vocab, lm.spec, "image")
    ps = [_prompt(lm, [5, 9, 2]), _prompt(lm, [1, 2, 3, 4, 5, 6, 7, 8, 9])]  # different lengths
    batched = d.generate(PromptBatch.pad(ps), plan, GREEDY)
    for i, p in enumerate(ps):
        np.testing.assert_array_equal(batched[i], d.generate(PromptBatch.pad([p]), plan, GREEDY)[0])


def test_controls_are_traced_and_seed_reproducible(lm):
    d = lm.decoder()
    plan = plan_target(lm.vocab, lm.spec, "image")
    pb = PromptBatch.pad([_prompt(lm, [5, 9, 2])])
    d.generate(pb, plan, Controls(temperature=1.0, seed=0))
    size = dec._generate_jit._cache_size()
    a = d.generate(pb, plan, Controls(temperature=1.0, top_k=8, top_p=0.9, seed=11))
    b = d.generate(pb, plan, Controls(temperature=1.0, top_k=8, top_p=0.9, seed=11))
    c = d.generate(pb, plan, Controls(temperature=1.0, top_k=8, top_p=0.9, seed=12))
    k1 = d.generate(pb, plan, Controls(temperature=0.7, top_k=1, seed=5))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    np.testing.assert_array_equal(k1, d.generate(pb, plan, GREEDY))  # top-k 1 is greedy
    assert dec._generate_jit._cache_size() == size                 # no recompilation for any control
    with pytest.raises(ValueError, match="top_p"):
        d.generate(pb, plan, Controls(top_p=0.0))


def test_guidance_combines_cond_and_uncond_rows(lm):
    d = lm.decoder()
    plan = plan_target(lm.vocab, lm.spec, "image")
    cond = _prompt(lm, [5, 9, 2])
    uncond = tasks.prompt(lm.vocab, "<task:generate>", [], "image")
    out = d.generate(PromptBatch.pad([cond]), plan, Controls(temperature=0.0, guidance=3.0),
                     uncond=PromptBatch.pad([uncond]))
    c, u = _reference_logits(lm, [cond, uncond], "image")
    want = np.argmax(np.where(plan.allowed[0], u + 3.0 * (c - u), -np.inf))
    assert out[0, 0] == want
    assert out[0, 16] == plan.end_id and len(dec.strip(out[0], plan)) == 16


def test_chained_generation_conditions_on_earlier_outputs(lm, monkeypatch):
    """Each target's prompt is training's any-to-any layout over the prompt and all earlier outputs."""
    seen = []
    fake = {"image": np.arange(16) % 16, "text": np.array([3, 4])}

    def record(self, prompts, plan, controls=Controls(), *, uncond=None, use_cache=True):
        seen.append((plan.modality, prompts))
        codes = lm.vocab.to_global(plan.modality, fake[plan.modality])
        row = np.concatenate([codes, [plan.end_id]])
        return np.pad(row, (0, plan.max_new - len(row)))[None].astype(np.int32)
    monkeypatch.setattr(Decoder, "generate", record)
    s = omni.sample(lm, [Tokens("text", np.array([5, 9]))], to=["image", "text"], decode=False)
    assert [g.modality for g in s.outputs] == ["image", "text"]
    np.testing.assert_array_equal(s["image"].tokens, fake["image"])
    want = tasks.prompt(lm.vocab, "<task:describe>", [("text", np.array([5, 9])), ("image", fake["image"])],
                        "text")
    got = seen[1][1]
    np.testing.assert_array_equal(got.tokens[0, :got.lengths[0]], want["inputs"])
    np.testing.assert_array_equal(got.span_ids[0, :got.lengths[0]], want["span_ids"])


def test_clear_errors(lm):
    untrained = dataclasses.replace(lm, spec=dataclasses.replace(lm.spec, trained_targets=("text",)),
                                    _decoder=None)
    with pytest.raises(ValueError, match="not trained to generate 'image'"):
        omni.sample(untrained, "a goat", to="image", decode=False)
    with pytest.raises(ValueError, match="unknown target modality"):
        omni.sample(lm, [Tokens("text", np.array([1]))], to="smell", decode=False)
    with pytest.raises(ValueError, match="no image tokenizer"):
        omni.sample(lm, [Tokens("text", np.array([1]))], to="image")
    with pytest.raises(ValueError, match="cannot use a dict as a prompt item"):
        omni.sample(lm, [{"text": "x"}], to="image", decode=False)
    with pytest.raises(ValueError, match="no text tokenizer"):
        omni.sample(lm, ["a goat"], to="image", decode=False)
    with pytest.raises(ValueError, match="max_seq_len"):
        omni.sample(lm, [Tokens("text", np.arange(200) % 50)], to="image", decode=False)
    with pytest.raises(TypeError, match="LoadedModel"):
        omni.sample(lm.model, ["a goat"], to="image")
