"""Bundles: a run's checkpoint -> launch/export.py -> omni.load gives the checkpoint's logits (one device and
an 8-device mesh), params readable from NumPy without JAX, damaged / incompatible bundles fail clearly."""
import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import nnx

import omni
from omni.model import batch_info
from omni.sampling import bundle
from omni.sampling.bundle import BundleError
from tests.launch_utils import launch_script
from tests.model_utils import random_batch
from tests.sample_utils import tiny_config, tiny_model, tokenizer_dir


def _forward(graphdef, state, batch):
    model = nnx.merge(graphdef, state)
    return model.logits(model(batch["inputs"], batch["input_modality"], batch_info(batch)), batch["target_modality"])


_forward_jit = jax.jit(_forward, static_argnums=0)


def _logits(model, batch):
    graphdef, state = nnx.split(model)
    return np.asarray(_forward_jit(graphdef, state, batch))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A model and a training run directory holding its checkpoint at step 20 (+ an eval record)."""
    from omni.train.checkpoint import Checkpointer
    from omni.train.optimizer import make_optimizer
    from omni.train.state import TrainState
    run = tmp_path_factory.mktemp("run")
    cfg = tiny_config(f"run_dir={run}")
    model = tiny_model(cfg, seed=5)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    state = TrainState(jnp.asarray(20, jnp.int32), params, make_optimizer(cfg).init(params),
                       jax.random.key_data(jax.random.key(0)))
    ck = Checkpointer(run, async_save=False)
    ck.save(20, state, None, {}, cfg)
    ck.close()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 20, "kind": "eval", "eval/loss": 2.5,
                                                   "eval/loss/image": 3.0}) + "\n")
    return cfg, model, params, run


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    *_, run = source
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    rc = _export_cli().main(["--run", str(run), "--out", str(out), "--tokenizers", str(tokenizer_dir())])
    assert rc == 0
    return out


def _export_cli():
    return launch_script("export")


def test_exported_logits_equal_training_checkpoint_on_one_device_and_a_mesh(source, exported):
    from omni.train.checkpoint import load_model
    cfg, model, _, run = source
    batch = random_batch(cfg.vocab.build(), 8, 64, seed=1)
    trained, _, step = load_model(run)
    want = _logits(trained, batch)
    np.testing.assert_array_equal(want, _logits(model, batch))
    lm = omni.load(exported, devices=jax.devices()[:1])
    assert lm.mesh is None and lm.step == step == 20
    assert sorted(lm.tokenizers) == ["audio", "image", "text", "video"]
    assert lm.manifest["metrics"] == {"eval/loss": 2.5, "eval/loss/image": 3.0}
    np.testing.assert_array_equal(_logits(lm.model, batch), want)  # fp32 bundle: bit-exact
    sharded = omni.load(exported)                                  # all 8 (fake) devices
    assert sharded.mesh is not None and sharded.mesh.devices.size == len(jax.devices())
    np.testing.assert_allclose(_logits(sharded.model, batch), want, atol=1e-5, rtol=1e-5)


def test_params_are_plain_safetensors(source, exported, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    cfg, _, params, _ = source
    arrays = load_file(str(exported / bundle.PARAMS))
    assert set(arrays) == set(params)
    for k, v in params.items():
        np.testing.assert_array_equal(arrays[k], np.asarray(v))
    with safe_open(str(exported / bundle.PARAMS), "np") as f:
        assert f.metadata()["format"] == "omni-params" and f.metadata()["step"] == "20"
    bf = bundle.export(tmp_path / "bf16", config=cfg, params=params, step=20, dtype="bfloat16")
    half = load_file(str(bf / bundle.PARAMS))
    assert half["wq"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(half["wq"], np.asarray(params["wq"]).astype(ml_dtypes.bfloat16))
    assert (bf / bundle.PARAMS).stat().st_size < 0.55 * (exported / bundle.PARAMS).stat().st_size
    card = (exported / "README.md").read_text()
    assert "step 20" in card and "| eval/loss | 2.5 |" in card and "recorded by the trainer at step 20" in card


def test_manifest_alone_says_where_each_modality_lives(source, exported):
    """manifest.json + params.safetensors describe the model without omni: the vocabulary ranges tile the id
    space and match the arrays, and they are right: perturbing the slice the manifest's modality axis gives
    for `image` changes the logits of image tokens only, and each head's unmasked logits are its manifest range."""
    from safetensors.numpy import load_file
    _, model, _, _ = source
    manifest = json.loads((exported / bundle.MANIFEST).read_text())
    arrays = load_file(str(exported / bundle.PARAMS))
    vocab, order, axes = manifest["vocab"], manifest["modality_axis"], manifest["params"]
    spans = sorted((r["start"], r["stop"]) for r in vocab["modalities"].values())
    assert spans[0][0] == 0 and spans[-1][1] == vocab["size"] and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert arrays["embed"].shape[0] == arrays["unembed"].shape[1] == vocab["size"]
    assert set(axes) == set(arrays) and all(list(arrays[k].shape) == p["shape"] and len(p["axes"]) == arrays[k].ndim
                                            for k, p in axes.items())
    r = vocab["modalities"]["text"]
    assert vocab["special_tokens"]["<pad>"] == 0 and r["code_offset"] == len(vocab["special_tokens"])

    def batch(m):  # 2 rows of 24 local codes of modality m, as global ids from the manifest alone
        r, rng = vocab["modalities"][m], np.random.default_rng(3)
        ids = r["code_offset"] + rng.integers(0, r["codes"], (2, 24))
        mid = np.full((2, 24), order.index(m), np.int32)
        zeros, pos = np.zeros((2, 24), np.int32), np.broadcast_to(np.arange(24, dtype=np.int32), (2, 24))
        return {"inputs": ids.astype(np.int32), "input_modality": mid, "target_modality": mid,
                "segment_ids": zeros + 1, "positions": pos, "span_ids": zeros}

    def logits(arrs, m):
        graphdef, state = nnx.split(model)
        nnx.replace_by_pure_dict(state, {k: jnp.asarray(v) for k, v in arrs.items()})
        return _logits(nnx.merge(graphdef, state), batch(m))

    image = order.index("image")
    bumped = {k: np.asarray(v).copy() for k, v in arrays.items()}
    for k, p in axes.items():
        if "modality" in p["axes"] and p["shape"][p["axes"].index("modality")] > 1:
            np.moveaxis(bumped[k], p["axes"].index("modality"), 0)[image] += 0.5
    np.testing.assert_array_equal(logits(bumped, "text"), logits(arrays, "text"))
    assert not np.allclose(logits(bumped, "image"), logits(arrays, "image"))
    for m in ("text", "image"):
        r = vocab["modalities"][m]
        live = np.flatnonzero(logits(arrays, m)[0, 0] > -1e29)  # ids outside the head are masked (-1e30)
        assert (live.min(), live.max() + 1, live.size) == (r["start"], r["stop"], r["stop"] - r["start"])
    card = (exported / "README.md").read_text()
    assert "0 = text, 1 = image, 2 = audio, 3 = video" in card
    for m, r in vocab["modalities"].items():
        assert f"| {m} | {order.index(m)} | [{r['start']}, {r['stop']}) | {r['code_offset']} |" in card


def _copy(src, tmp_path, name="b") -> pathlib.Path:
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _rewrite_manifest(root, **changes):
    m = json.loads((root / bundle.MANIFEST).read_text())
    m.update(changes)
    m["manifest_sha256"] = bundle._manifest_digest(m)
    (root / bundle.MANIFEST).write_text(json.dumps(m))


def test_damaged_or_incompatible_bundles_fail_clearly(exported, tmp_path):
    b = _copy(exported, tmp_path, "trunc")
    p = b / bundle.PARAMS
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(BundleError, match="params.safetensors is truncated"):
        omni.load(b)

    b = _copy(exported, tmp_path, "tamper")
    cfg_text = (b / bundle.CONFIG).read_text()
    (b / bundle.CONFIG).write_text(cfg_text.replace('"seed": 0', '"seed": 1'))
    with pytest.raises(BundleError, match="config.json was modified"):
        omni.load(b)

    b = _copy(exported, tmp_path, "manifest")
    m = json.loads((b / bundle.MANIFEST).read_text())
    m["step"] = 999
    (b / bundle.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleError, match="manifest.json was modified"):
        omni.load(b)

    b = _copy(exported, tmp_path, "newer")
    _rewrite_manifest(b, format_version=bundle.FORMAT_VERSION + 1)
    with pytest.raises(BundleError, match="upgrade omni"):
        omni.load(b)

    b = _copy(exported, tmp_path, "oldomni")
    _rewrite_manifest(b, omni_version="0.0.9")
    with pytest.raises(BundleError, match="incompatible with omni"):
        omni.load(b)

    b = _copy(exported, tmp_path, "axis")  # a re-signed manifest whose layout is not the model's
    _rewrite_manifest(b, modality_axis=["image", "text", "audio", "video"])
    with pytest.raises(BundleError, match=r"\['modality_axis'\] disagree with the config's model"):
        omni.load(b, devices=jax.devices()[:1])

    b = _copy(exported, tmp_path, "differ")  # signed, but config.json and the manifest's config disagree
    _rewrite_manifest(b, config={**json.loads(cfg_text), "seed": 7})
    with pytest.raises(BundleError, match="config.json disagrees with the manifest's config"):
        omni.load(b)

    b = _copy(exported, tmp_path, "older")  # exported before a config field existed: loads with its default
    old = json.loads(cfg_text)
    del old["train"]["loss_weights"]
    (b / bundle.CONFIG).write_text(json.dumps(old))
    files = json.loads((b / bundle.MANIFEST).read_text())["files"]
    files[bundle.CONFIG] = {"bytes": (b / bundle.CONFIG).stat().st_size,
                            "sha256": bundle.sha256_file(b / bundle.CONFIG)}
    _rewrite_manifest(b, config=old, files=files)
    assert omni.load(b, devices=jax.devices()[:1]).config.train.loss_weights == ()

    b = _copy(exported, tmp_path, "notok")
    (b / "tokenizers" / "image" / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match="tokenizers/image/weights.safetensors is missing"):
        omni.load(b)

    with pytest.raises(BundleError, match="not an omni bundle"):
        omni.load(tmp_path)
    with pytest.raises(BundleError, match="no bundle at"):
        omni.load(tmp_path / "nowhere")


def test_export_refuses_mismatches(source, tmp_path):
    cfg, _, params, _ = source
    with pytest.raises(BundleError, match="text tokenizer has 300 ids but vocab.text is 256"):
        bundle.export(tmp_path / "x", config=tiny_config("vocab.text=256"), params=params, step=1,
                      tokenizer_dir=tokenizer_dir())
    with pytest.raises(BundleError, match="parameter shapes do not match"):
        bundle.export(tmp_path / "y", config=tiny_config("model.d_ff=128"), params=params, step=1)
    bundle.export(tmp_path / "z", config=cfg, params=params, step=1)
    with pytest.raises(BundleError, match="already exists"):
        bundle.export(tmp_path / "z", config=cfg, params=params, step=1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind
