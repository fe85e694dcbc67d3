"""Bundles: export -> load gives the same logits (one device and an 8-device mesh), params readable from
NumPy without JAX, and truncated / tampered / incompatible bundles fail with clear errors."""
import json
import pathlib
import shutil

import jax
import ml_dtypes
import numpy as np
import pytest
from flax import nnx

import omni
from omni.model import batch_info
from omni.sampling import bundle
from omni.sampling.bundle import BundleError
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
def source():
    cfg = tiny_config()
    model = tiny_model(cfg, seed=5)
    return cfg, model, nnx.to_pure_dict(nnx.state(model, nnx.Param))


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    cfg, _, params = source
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    bundle.export(out, config=cfg, params=params, step=20, tokenizer_dir=tokenizer_dir(),
                  metrics={"eval/loss": 2.5, "eval/loss/image": 3.0})
    return out


def test_exported_logits_equal_source_on_one_device_and_a_mesh(source, exported):
    cfg, model, _ = source
    batch = random_batch(cfg.vocab.build(), 8, 64, seed=1)
    want = _logits(model, batch)
    lm = omni.load(exported, devices=jax.devices()[:1])
    assert lm.mesh is None and lm.step == 20 and sorted(lm.tokenizers) == ["audio", "image", "text", "video"]
    np.testing.assert_array_equal(_logits(lm.model, batch), want)  # fp32 bundle: bit-exact
    sharded = omni.load(exported)                                  # all 8 (fake) devices
    assert sharded.mesh is not None and sharded.mesh.devices.size == len(jax.devices())
    np.testing.assert_allclose(_logits(sharded.model, batch), want, atol=1e-5, rtol=1e-5)


def test_params_are_plain_safetensors(source, exported, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    cfg, _, params = source
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
    assert "step 20" in card and "eval/loss" in card and "| 2.5 |" in card


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

    b = _copy(exported, tmp_path, "notok")
    (b / "tokenizers" / "image" / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match="tokenizers/image/weights.safetensors is missing"):
        omni.load(b)

    with pytest.raises(BundleError, match="not an omni bundle"):
        omni.load(tmp_path)
    with pytest.raises(BundleError, match="no bundle at"):
        omni.load(tmp_path / "nowhere")


def test_export_refuses_mismatches(source, tmp_path):
    cfg, _, params = source
    with pytest.raises(BundleError, match="text tokenizer has 300 ids but vocab.text is 256"):
        bundle.export(tmp_path / "x", config=tiny_config("vocab.text=256"), params=params, step=1,
                      tokenizer_dir=tokenizer_dir())
    with pytest.raises(BundleError, match="parameter shapes do not match"):
        bundle.export(tmp_path / "y", config=tiny_config("model.d_ff=128"), params=params, step=1)
    bundle.export(tmp_path / "z", config=cfg, params=params, step=1)
    with pytest.raises(BundleError, match="already exists"):
        bundle.export(tmp_path / "z", config=cfg, params=params, step=1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind
