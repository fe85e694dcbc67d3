"""Mixture-of-Transformers backbone: dense equivalence, per-modality gradients, static shapes, cache."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from omni import modality as mod
from omni.attention import MaskInfo
from omni.config import load_config
from omni.model import build_model, loss_fn, model_stats
from omni.model.layers import rms_norm, rope
from omni.model.loss import modality_weights
from omni.model.mot import LAYER_PARAMS
from tests.model_utils import random_batch

PER_MODALITY = LAYER_PARAMS + ("final_norm",)


def _cfg(**model):
    cfg = load_config("tiny", ["model.dtype=float32"])
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **model))


def _jbatch(b):
    return {k: jnp.asarray(v) for k, v in b.items()}


@nnx.jit
def _grads(model, batch):
    (loss, _), g = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
    return loss, nnx.state(g, nnx.Param)


@pytest.mark.parametrize("mode", ["tiles", "ragged"])
def test_mot_with_identical_modality_weights_equals_dense(mode):
    dense_cfg = _cfg(untie_attention=False, untie_ffn=False, untie_norms=False)
    mot_cfg = _cfg(grouped_matmul=mode)
    dense, mot = build_model(dense_cfg, seed=1), build_model(mot_cfg, seed=2)
    M = len(mod.names())
    for name in ("embed", "unembed"):
        getattr(mot, name)[...] = getattr(dense, name)[...]
    for name in PER_MODALITY:  # every modality's copy = the dense weights ("all tied")
        d = getattr(dense, name)[...]
        axis = 0 if name == "final_norm" else 1
        getattr(mot, name)[...] = jnp.repeat(d, M, axis=axis)
    batch = _jbatch(random_batch(dense_cfg.vocab.build(), 4, 96, seed=3))
    ld, gd = _grads(dense, batch)
    lm, gm = _grads(mot, batch)
    np.testing.assert_allclose(lm, ld, rtol=1e-6, atol=1e-6)
    for name in ("embed", "unembed"):
        np.testing.assert_allclose(gm[name][...], gd[name][...], atol=1e-6)
    for name in PER_MODALITY:  # dense gradient = sum of the modality copies' gradients
        axis = 0 if name == "final_norm" else 1
        np.testing.assert_allclose(gm[name][...].sum(axis=axis, keepdims=True), gd[name][...],
                                   atol=2e-6, rtol=1e-5)


def test_text_only_batch_leaves_zero_gradient_on_other_modalities():
    cfg = _cfg()
    model = build_model(cfg, seed=0)
    batch = _jbatch(random_batch(cfg.vocab.build(), 2, 64, seed=1, modalities=("text",)))
    _, g = _grads(model, batch)
    t = mod.modality_id("text")
    for name in PER_MODALITY:
        arr = np.asarray(g[name][...])
        arr = arr if name == "final_norm" else np.moveaxis(arr, 1, 0)
        assert np.abs(arr[t]).sum() > 0, name
        for m in range(len(mod.names())):
            if m != t:
                assert np.all(arr[m] == 0.0), f"{name}: modality {m} got a nonzero gradient"


def _reference_loss(params, cfg, vocab, batch, loss_weights=None):
    """Slow reference: every token picks its own modality's weights (per-token weight gather); with
    `loss_weights` {modality: weight} each loss token counts with its target modality's weight."""
    m = cfg.model
    B, L = batch["inputs"].shape
    mods = batch["input_modality"]
    H, Hkv, Dh = m.n_heads, m.n_kv_heads, m.head_dim

    def per_token(x, w):  # x [B, L, K], w [M, K, F] -> each token times its modality's matrix
        return jnp.einsum("blk,blkf->blf", x, w[mods])

    x = params["embed"][batch["inputs"]]
    info = MaskInfo(batch["segment_ids"], batch["positions"], batch["span_ids"])
    from omni.attention import xla_attention
    for i in range(m.n_layers):
        p = {n: params[n][i] for n in LAYER_PARAMS}
        h = rms_norm(x, p["attn_norm"][mods], m.norm_eps)
        q = per_token(h, p["wq"]).reshape(B, L, H, Dh)
        k = per_token(h, p["wk"]).reshape(B, L, Hkv, Dh)
        v = per_token(h, p["wv"]).reshape(B, L, Hkv, Dh)
        q = rms_norm(q, p["q_norm"][mods][:, :, None, :], m.norm_eps)
        k = rms_norm(k, p["k_norm"][mods][:, :, None, :], m.norm_eps)
        q, k = rope(q, info.positions, m.rope_theta), rope(k, info.positions, m.rope_theta)
        o = xla_attention(q, k, v, info, info).reshape(B, L, H * Dh)
        x = x + per_token(o, p["wo"])
        h = rms_norm(x, p["ffn_norm"][mods], m.norm_eps)
        x = x + per_token(jax.nn.silu(per_token(h, p["w_gate"])) * per_token(h, p["w_up"]), p["w_down"])
    x = rms_norm(x, params["final_norm"][mods], m.norm_eps)
    logits = x @ params["unembed"]
    ranges = jnp.asarray(vocab.head_ranges())[batch["target_modality"]]
    ids = jnp.arange(vocab.size)
    logits = jnp.where((ids >= ranges[..., :1]) & (ids < ranges[..., 1:]), logits, -1e30)
    lse = jax.nn.logsumexp(logits, -1)
    nll = lse - jnp.take_along_axis(logits, batch["targets"][..., None], -1)[..., 0]
    mask = batch["loss_mask"]
    if loss_weights:
        per_modality = jnp.asarray([loss_weights.get(n, 1.0) for n in mod.names()])
        mask = mask * per_modality[batch["target_modality"]]
    denom = jnp.maximum(mask.sum(), 1e-9)
    return (nll * mask).sum() / denom + m.z_loss * (lse ** 2 * mask).sum() / denom


@pytest.mark.parametrize("mode,logits_chunk,grouped_head", [("tiles", 0, False), ("ragged", 0, False),
                                                             ("tiles", 32, False), ("tiles", 0, True),
                                                             ("ragged", 0, True), ("ragged", 32, True)])
def test_mixed_batch_gradients_match_per_token_reference(mode, logits_chunk, grouped_head):
    # logits_chunk=32 over 80 positions: three chunks, the last one padded, logits recomputed in the backward;
    # grouped_head: each position's logits on its target modality's slice only, grouped like the MoT's matmuls
    cfg = _cfg(grouped_matmul=mode, scan_layers=(mode == "tiles"), logits_chunk=logits_chunk,
               grouped_head=grouped_head)
    vocab = cfg.vocab.build()
    model = build_model(cfg, seed=4)
    batch = _jbatch(random_batch(vocab, 3, 80, seed=5))
    loss, g = _grads(model, batch)
    params = {k: v[...] for k, v in nnx.state(model, nnx.Param).items()}
    ref_loss, ref_g = jax.jit(jax.value_and_grad(_reference_loss), static_argnums=(1, 2))(params, cfg, vocab, batch)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for name, rg in ref_g.items():
        np.testing.assert_allclose(g[name][...], rg, atol=2e-6, rtol=2e-4, err_msg=name)


def test_loss_weights_weigh_each_target_modality():
    """train.loss_weights: the loss and its gradients are the per-token reference's weighted mean; the logged
    nll stays the plain token mean, and weights of 1 are the plain loss."""
    cfg = _cfg()
    vocab = cfg.vocab.build()
    model = build_model(cfg, seed=4)
    batch = _jbatch(random_batch(vocab, 3, 80, seed=5))
    want = {"text": 4.0, "image": 0.5}
    weights = modality_weights(tuple(want.items()))
    assert weights.tolist() == [want.get(n, 1.0) for n in mod.names()]
    assert modality_weights(()) is None

    @nnx.jit
    def weighted(model, batch, w):
        (loss, aux), g = nnx.value_and_grad(lambda m, b: loss_fn(m, b, loss_weights=w), has_aux=True)(model, batch)
        return loss, aux, nnx.state(g, nnx.Param)

    loss, aux, g = weighted(model, batch, weights)
    params = {k: v[...] for k, v in nnx.state(model, nnx.Param).items()}
    ref = jax.jit(jax.value_and_grad(lambda p, b: _reference_loss(p, cfg, vocab, b, want)))
    ref_loss, ref_g = ref(params, batch)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for name, rg in ref_g.items():
        np.testing.assert_allclose(g[name][...], rg, atol=2e-6, rtol=2e-4, err_msg=name)
    plain_loss, plain_aux = loss_fn(model, batch)
    ones, ones_aux, _ = weighted(model, batch, np.ones(len(mod.names()), np.float32))
    np.testing.assert_allclose(ones, plain_loss, rtol=1e-6)
    np.testing.assert_allclose(aux["nll"], plain_aux["nll"], rtol=1e-6)
    assert float(ones_aux["loss_weight"]) == float(plain_aux["tokens"])
    assert abs(float(loss) - float(plain_loss)) > 1e-3  # the weights do change the objective


def test_new_modality_mix_does_not_recompile():
    cfg = _cfg()
    model = build_model(cfg)
    vocab = cfg.vocab.build()
    traces = []

    def f(graphdef, state, b):
        traces.append(1)  # runs once per trace/compilation
        return loss_fn(nnx.merge(graphdef, state), b)[0]
    gd, st = nnx.split(model)
    jf = jax.jit(f, static_argnums=0)
    for seed, mods in ((0, ("text", "image", "audio", "video")), (1, ("text",)), (2, ("image", "audio")),
                       (3, ("video", "text"))):
        jf(gd, st, _jbatch(random_batch(vocab, 2, 64, seed=seed, modalities=mods)))
    assert len(traces) == 1


def test_kv_cache_decoding_matches_full_forward():
    cfg = _cfg()
    vocab = cfg.vocab.build()
    model = build_model(cfg, seed=7)
    b = random_batch(vocab, 2, 40, seed=8, max_segments=1)
    b["segment_ids"][:] = 1
    b["positions"][:] = np.arange(40)
    b["span_ids"][:, :10] = 1  # a bidirectional prompt span
    b["span_ids"][:, 10:] = 0
    jb = _jbatch(b)
    info = MaskInfo(jb["segment_ids"], jb["positions"], jb["span_ids"])
    full = nnx.jit(lambda m, t, mo, i: m(t, mo, i))(model, jb["inputs"], jb["input_modality"], info)
    cache = model.init_cache(2, 64)
    step = nnx.jit(lambda m, t, mo, i, c, idx: m(t, mo, i, cache=c, cache_index=idx))
    P = 24

    def sl(a, s, e):
        return a[:, s:e]
    h1, cache = step(model, sl(jb["inputs"], 0, P), sl(jb["input_modality"], 0, P),
                     MaskInfo(*(sl(x, 0, P) for x in info)), cache, 0)
    outs = [h1]
    for t in range(P, 40):  # one compiled decode step reused for every token
        h, cache = step(model, sl(jb["inputs"], t, t + 1), sl(jb["input_modality"], t, t + 1),
                        MaskInfo(*(sl(x, t, t + 1) for x in info)), cache, t)
        outs.append(h)
    np.testing.assert_allclose(jnp.concatenate(outs, 1), full, atol=2e-5, rtol=1e-4)


def test_forward_under_8_device_mesh_with_sharded_params():
    from jax.sharding import NamedSharding

    from omni import sharding
    cfg = load_config("tiny", ["mesh.data=2", "mesh.fsdp=2", "mesh.tensor=2", "model.dtype=float32"])
    mesh = sharding.make_mesh(cfg.mesh)
    assert mesh.devices.size == 8
    abstract = nnx.eval_shape(lambda: build_model(cfg))
    gd, abs_state = nnx.split(abstract)
    shardings = sharding.named_shardings(mesh, sharding.state_specs(abs_state, cfg.mesh.rules, mesh))

    state = jax.jit(lambda: nnx.state(build_model(cfg)), out_shardings=shardings)()  # created sharded
    wq = state["wq"][...]
    assert isinstance(wq.sharding, NamedSharding) and len(wq.sharding.device_set) == 8
    assert wq.addressable_shards[0].data.shape != wq.shape  # actually split, not replicated
    vocab = cfg.vocab.build()
    batch = random_batch(vocab, 8, 64, seed=9)
    bs = sharding.batch_sharding(mesh, cfg.mesh.rules)
    batch = {k: jax.device_put(v, bs) for k, v in batch.items()}
    fwd = jax.jit(lambda st, b: loss_fn(nnx.merge(gd, st), b)[0])
    loss = fwd(state, batch)
    ref = loss_fn(nnx.merge(gd, jax.device_get(state)), {k: np.asarray(v) for k, v in batch.items()})[0]
    np.testing.assert_allclose(loss, ref, rtol=1e-5)


@pytest.mark.parametrize("axes", [("embed", "mlp"), ("mlp", "embed"), ("embed", "heads")])
def test_ragged_grouped_matmul_per_device_matches_the_per_token_reference(axes):
    """Under the trainer's mesh (data x fsdp x tensor = 2 x 2 x 2) the `ragged` grouped matmul runs per device
    inside shard_map (the TPU compiler accepts no batched ragged_dot): chunks over the batch axes, K or F
    over tensor (a sharded K is summed). Equal to each token times its own group's weights."""
    from omni import sharding
    from omni.config import MeshConfig
    from omni.model import grouping
    mesh = sharding.make_mesh(MeshConfig(data=2, fsdp=2, tensor=2))
    rules = MeshConfig().rules
    C, N, K, F, G = 4, 24, 16, 32, 3
    kg, kx, kw = jax.random.split(jax.random.key(3), 3)
    groups = jax.random.randint(kg, (C, N), 0, G)
    x = jax.random.normal(kx, (C, N, K))
    w = jax.random.normal(kw, (G, K, F))
    want = jnp.einsum("cnk,cnkf->cnf", x, w[groups])

    @jax.jit
    def run(x, w, groups):
        with sharding.activation_sharding(mesh, rules):
            layout = grouping.make_layout(groups, G, "ragged", 0)
            y = grouping.grouped_matmul(grouping.to_layout(x, layout), w, layout, axes)
            return grouping.from_layout(y, layout), jax.grad(lambda w: grouping.grouped_matmul(
                grouping.to_layout(x, layout), w, layout, axes).sum())(w)

    got, dw = run(x, w, groups)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    dw_want = jax.grad(lambda w: jnp.einsum("cnk,cnkf->cnf", x, w[groups]).sum())(w)
    np.testing.assert_allclose(dw, dw_want, rtol=1e-4, atol=1e-4)
    assert "shard_map" in str(jax.make_jaxpr(run)(x, w, groups))


def test_code_digits_follow_the_fsq_numbering():
    from omni_tokenizers.core.quantizers import FSQ

    from omni.model.mot import code_digits
    levels = (8, 5, 5, 3)
    fsq = FSQ(levels)
    zq = np.asarray(fsq.ids_to_codes(jnp.arange(fsq.codebook_size)))
    half = np.asarray([v // 2 for v in levels], np.float32)
    digits = np.round(zq * half + half).astype(int)                      # the quantizer's own digits
    starts = np.cumsum((0,) + levels[:-1])
    np.testing.assert_array_equal(code_digits(fsq.codebook_size, levels), digits + starts)


def test_code_levels_share_one_vector_per_digit_value_and_start_neutral():
    levels = {"image": (4, 4, 4), "video": (8, 8)}  # the tiny vocabulary's 64 image and 64 video codes
    plain = build_model(_cfg(), seed=5)
    cfg = _cfg(code_levels=tuple(levels.items()))
    model = build_model(cfg, seed=5)
    vocab = cfg.vocab.build()
    batch = _jbatch(random_batch(vocab, 2, 64, seed=6))
    # zero-initialised digit vectors: a fresh model computes exactly what the same seed does without them
    np.testing.assert_array_equal(_grads(model, batch)[0], _grads(plain, batch)[0])
    rng = np.random.default_rng(0)
    model.embed_digits[...] = jnp.asarray(rng.normal(size=model.embed_digits[...].shape), jnp.float32)
    model.unembed_digits[...] = jnp.asarray(rng.normal(size=model.unembed_digits[...].shape), jnp.float32)
    emb = np.asarray(model.embed_tokens(jnp.arange(vocab.size)))
    unemb = np.asarray(model.head())
    E, U = np.asarray(model.embed[...]), np.asarray(model.unembed[...])
    Td, Tu = np.asarray(model.embed_digits[...]), np.asarray(model.unembed_digits[...])
    row = 0
    for name, lv in levels.items():
        off = vocab.code_offset(name)
        for local in (0, 1, 37, 63):  # digits of `local`, first level fastest
            rest, rows = local, []
            for i, v in enumerate(lv):
                rows.append(row + sum(lv[:i]) + rest % v)
                rest //= v
            np.testing.assert_allclose(emb[off + local], E[off + local] + Td[rows].sum(0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(unemb[:, off + local], U[:, off + local] + Tu[:, rows].sum(1), rtol=1e-5,
                                       atol=1e-6)
        row += sum(lv)
    a, z = vocab.range("text")  # modalities without levels are untouched
    np.testing.assert_array_equal(emb[a:z], E[a:z])
    np.testing.assert_array_equal(unemb[:, a:z], U[:, a:z])
    n_params = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    assert n_params == model_stats(cfg).total_params == model_stats(_cfg()).total_params + 2 * (12 + 16) * \
        cfg.model.d_model
    # both digit tables learn
    _, g = _grads(model, batch)
    assert float(jnp.abs(g["embed_digits"][...]).sum()) > 0 and float(jnp.abs(g["unembed_digits"][...]).sum()) > 0


@pytest.mark.parametrize("levels, message", [
    ((("image", (4, 4)),), "gives 16 codes; the vocabulary has 64 image codes"),
    ((("text", (4, 4, 4)),), "expected distinct media modalities"),
    ((("image", (4, 4, 1)),), "expected a tuple of FSQ levels >= 2"),
])
def test_code_levels_are_checked_against_the_vocabulary(levels, message):
    with pytest.raises(ValueError, match=message):
        build_model(_cfg(code_levels=levels), seed=0)

