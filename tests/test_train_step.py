"""Train step on device meshes: same losses as one device, only the expected collectives, grad accumulation,
non-finite skipping, the optimizer's schedule and decay mask, chunked grouping layouts."""
import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from omni.config import load_config
from omni.model import build_model, loss_fn
from omni.train.mesh import batch_shardings, resolve_for_mesh, train_mesh
from omni.train.optimizer import decay_mask, learning_rate_schedule, make_optimizer
from omni.train.state import create_train_state, mot_state_shardings
from omni.train.step import fetch, learning_rate, make_train_step
from tests.model_utils import random_batch

# One worker runs the whole module, so its module-scoped fixture is computed once under xdist --dist loadgroup.
pytestmark = pytest.mark.xdist_group("train_step")

STEPS = 3
# LLVM codegen effort only (halves CPU compile time); sharding, collectives and the math are decided before it.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")


def _cfg(*overrides):
    return load_config("tiny", ["train.seq_len=64", "train.batch_size=8", "train.warmup_steps=1", *overrides])


def _batches(cfg, n=STEPS):
    return [random_batch(cfg.vocab.build(), 8, 64, seed=100 + i) for i in range(n)]


def _run(cfg, batches):
    """(losses, final params on host, compiled HLO text, params state) of STEPS steps on cfg.mesh."""
    mesh = train_mesh(cfg)
    cfg = resolve_for_mesh(cfg, mesh)
    tx = make_optimizer(cfg)
    graphdef, state = create_train_state(cfg, mesh, tx)
    step = make_train_step(cfg, graphdef, tx, mesh, mot_state_shardings(cfg, mesh, tx))
    bsh = batch_shardings(cfg, mesh)
    put = [{k: jax.device_put(v, bsh[k]) for k, v in b.items()} for b in batches]
    compiled = step.lower(state, put[0], learning_rate(cfg, 0)).compile(compiler_options=FAST_COMPILE)
    sharded_wq = state.params["wq"].addressable_shards[0].data.shape
    losses, gnorms = [], []
    for i, b in enumerate(put):
        state, m = compiled(state, b, learning_rate(cfg, i))
        losses.append(float(fetch(m)["loss"]))
        gnorms.append(float(fetch(m)["grad_norm"]))
    return dict(losses=np.array(losses), gnorms=np.array(gnorms), params=jax.device_get(state.params),
                hlo=compiled.as_text(), state=state, step=compiled, batches=put, wq_shard=sharded_wq)


def _collectives(hlo: str) -> dict[str, int]:
    found = re.findall(r"\b(" + "|".join(COLLECTIVES) + r")(?:-start)?\(", hlo)
    return {c: found.count(c) for c in COLLECTIVES if c in found}


@pytest.fixture(scope="module")
def one_device():
    cfg = _cfg("mesh.devices=1")
    return cfg, _run(cfg, _batches(cfg))


# Per mesh (data, fsdp, tensor): collectives allowed in the compiled step, and those that must appear.
# Data parallel reduces gradients only; FSDP also gathers weights (per layer, inside the scan); tensor
# parallel reduces activations. all-to-all / collective-permute would mean activations get resharded.
MESHES = {
    (8, 1, 1): ({"all-reduce"}, {"all-reduce"}),
    (2, 4, 1): ({"all-reduce", "all-gather", "reduce-scatter"}, {"all-gather"}),
    (1, 2, 4): ({"all-reduce", "all-gather", "reduce-scatter"}, {"all-gather", "all-reduce"}),
    (4, 1, 2): ({"all-reduce", "all-gather", "reduce-scatter"}, {"all-reduce"}),
}


@pytest.mark.parametrize("shape", list(MESHES), ids=lambda s: "x".join(map(str, s)))
def test_mesh_matches_one_device_with_expected_collectives(one_device, shape):
    ref_cfg, ref = one_device
    d, f, t = shape
    cfg = _cfg(f"mesh.data={d}", f"mesh.fsdp={f}", f"mesh.tensor={t}")
    got = _run(cfg, _batches(cfg))
    # Same math, different reduction order across devices: float32 agreement to ~1e-6 relative. (Params
    # are not compared elementwise: Adam turns roundoff in near-zero gradients into ~lr * noise / eps.)
    np.testing.assert_allclose(got["losses"], ref["losses"], rtol=2e-6)
    np.testing.assert_allclose(got["gnorms"], ref["gnorms"], rtol=1e-5)
    allowed, required = MESHES[shape]
    found = _collectives(got["hlo"])
    assert set(found) <= allowed, f"unexpected collectives {found} on mesh {shape}"
    assert required <= set(found), f"missing {required - set(found)} on mesh {shape}: {found}"
    if f * t > 1:  # parameters really are split, not replicated
        assert got["wq_shard"] != got["params"]["wq"].shape


@pytest.mark.parametrize("mode,shape", [("ragged", (1, 2, 4)), ("tiles", (4, 1, 2))],
                         ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
def test_grouped_head_on_a_mesh_matches_the_full_head(one_device, mode, shape):
    """`model.grouped_head` (each position's logits on its target modality's vocabulary slice only) trains like
    the masked full head of the one-device run; `ragged` under tensor parallelism runs the head per device
    inside shard_map with the vocabulary slices split over `tensor`. No activation resharding."""
    _, ref = one_device
    d, f, t = shape
    cfg = _cfg(f"mesh.data={d}", f"mesh.fsdp={f}", f"mesh.tensor={t}", "model.grouped_head=true",
               f"model.grouped_matmul={mode}")
    got = _run(cfg, _batches(cfg))
    np.testing.assert_allclose(got["losses"], ref["losses"], rtol=2e-6)
    np.testing.assert_allclose(got["gnorms"], ref["gnorms"], rtol=1e-5)
    assert not {"all-to-all", "collective-permute"} & set(_collectives(got["hlo"]))


def test_grad_accumulation_equals_one_batch(one_device):
    _, ref = one_device
    cfg = _cfg("mesh.devices=1", "train.grad_accum=2")
    got = _run(cfg, _batches(cfg))
    np.testing.assert_allclose(got["losses"], ref["losses"], rtol=2e-6)
    np.testing.assert_allclose(got["gnorms"], ref["gnorms"], rtol=1e-5)


def test_loss_weights_accumulate_like_one_batch():
    """Weighted micro-batches add up to the weighted big batch: each micro-batch's weighted sum over the summed
    weights of all of them (not a mean of means)."""
    weights = 'train.loss_weights=[["text",4],["image",0.5]]'
    one = _run(_cfg("mesh.devices=1", weights), _batches(_cfg()))
    two = _run(_cfg("mesh.devices=1", weights, "train.grad_accum=2"), _batches(_cfg()))
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=2e-6)
    np.testing.assert_allclose(two["gnorms"], one["gnorms"], rtol=1e-5)


def test_nonfinite_step_is_skipped(one_device):
    cfg, ref = one_device
    state, step = ref["state"], ref["step"]
    before = jax.device_get(state.params)
    bad = dict(ref["batches"][0])
    bad["loss_mask"] = bad["loss_mask"] * jnp.nan
    n = int(fetch(state.step))
    lr = learning_rate(cfg, 5)
    state, m = step(state, bad, lr)
    m = fetch(m)
    assert not bool(m["finite"]) and not np.isfinite(m["loss"])
    assert int(fetch(state.step)) == n + 1
    for name, p in before.items():
        np.testing.assert_array_equal(jax.device_get(state.params[name]), p, err_msg=name)
    # A finite batch with a non-finite learning rate (a runtime input) is skipped the same way: NaN params
    # are never committed, whatever produced them.
    for bad_lr in (np.float32(np.nan), np.float32(np.inf)):
        state, m = step(state, ref["batches"][1], bad_lr)
        assert not bool(fetch(m)["finite"]) and np.isfinite(fetch(m)["loss"])
        for name, p in before.items():
            np.testing.assert_array_equal(jax.device_get(state.params[name]), p, err_msg=name)
    state, m = step(state, ref["batches"][1], lr)  # training goes on after a skipped step
    assert bool(fetch(m)["finite"])


def test_schedule_and_decay_mask():
    cfg = _cfg("train.warmup_steps=4", "steps=20", "train.learning_rate=1.0", "train.min_lr_ratio=0.1")
    lr = learning_rate_schedule(cfg)
    np.testing.assert_allclose([float(lr(i)) for i in range(4)], [0.25, 0.5, 0.75, 1.0], rtol=1e-6)
    np.testing.assert_allclose(float(lr(20)), 0.1, rtol=1e-6)          # cosine ends at min_lr_ratio
    np.testing.assert_allclose(float(lr(12)), 0.1 + 0.9 * 0.5, rtol=1e-5)  # half way through the decay
    lin = learning_rate_schedule(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, schedule="linear")))
    np.testing.assert_allclose(float(lin(12)), 0.55, rtol=1e-5)
    const = learning_rate_schedule(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, schedule="constant")))
    assert float(const(19)) == 1.0
    params = nnx.to_pure_dict(nnx.state(nnx.eval_shape(lambda: build_model(cfg)), nnx.Param))
    mask = decay_mask(params)
    assert {k for k, v in mask.items() if not v} == {"embed", "final_norm", "attn_norm", "ffn_norm", "q_norm",
                                                      "k_norm"}


def test_ragged_layout_chunks_give_the_same_loss_and_gradients():
    """Chunked `ragged` grouping (c chunks as c x G consecutive groups of one ragged_dot) vs one chunk; the `tiles`
    chunked path is covered by the mesh tests (auto chunks per batch shard vs one chunk on one device)."""
    cfg = load_config("tiny", ["model.grouped_matmul=ragged"])
    batch = {k: jnp.asarray(v) for k, v in random_batch(cfg.vocab.build(), 4, 48, seed=7).items()}
    out = []
    for chunks in (1, 4):
        c = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, layout_chunks=chunks))
        graphdef, params = nnx.split(build_model(c, seed=3), nnx.Param)
        fn = jax.jit(jax.value_and_grad(lambda p, b, g=graphdef: loss_fn(nnx.merge(g, p), b)[0]))
        loss, grads = fn(nnx.to_pure_dict(params), batch)
        out.append((loss, grads))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-6)
    for name, g in out[0][1].items():
        np.testing.assert_allclose(out[1][1][name], g, atol=1e-6, rtol=1e-5, err_msg=name)
