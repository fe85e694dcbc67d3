"""Inference bundles: `export` writes one, `load` verifies and opens it (`omni.load`).

A bundle is a folder (no pickle anywhere):

    manifest.json        format + version, omni version, step, param dtype, config, sampling spec, metrics,
                         the vocabulary layout (each modality's id range), the modality axis order and each
                         parameter's shape and axis names (so safetensors + JSON describe the model without
                         omni), and {file: {bytes, sha256}} of every other file, plus the manifest's own sha256
    config.json          the training Config (omni.config.config_to_json)
    params.safetensors   model parameters by name ("embed", "wq", ...), fp32 or bf16; readable with
                         safetensors from NumPy or PyTorch without JAX
    tokenizers/<m>/      each modality's tokenizer, copied in its own save/load format
    README.md            the model card

`load` checks the format version, the omni version, every file's size (truncation) and hash (tampering)
and the parameter names/shapes against the config before building anything, and raises `BundleError`.

Importing this module does not import JAX (manifest checks and CLIs stay cheap); JAX, Flax and the model
code are imported inside the functions that build or read arrays.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import shutil
import tempfile

import ml_dtypes
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

import omni
from omni import modality as mod
from omni.config import MeshConfig, config_from_json, config_to_json, to_dict
from omni.sampling.card import model_card
from omni.sampling.loaded import LoadedModel
from omni.sampling.spec import SamplingSpec, infer_spec

FORMAT = "omni-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARAMS = "params.safetensors"
CONFIG = "config.json"
CARD = "README.md"
TOKENIZERS = "tokenizers"
DTYPES = ("float32", "bfloat16")


class BundleError(ValueError):
    """A bundle is missing, truncated, tampered with, or from an incompatible version."""


# ---- hashing ---------------------------------------------------------------------------------------

def sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(v).split(".")[:2])
    except ValueError:
        raise BundleError(f"bundle names omni version {v!r}, which is not a version number") from None


# ---- params ----------------------------------------------------------------------------------------

def flat_params(params) -> dict[str, np.ndarray]:
    """nnx.State / nested dict of arrays -> {"a/b": np.ndarray} (host copies)."""
    import jax  # on use: JAX/Flax; this module imports without them (see the module docstring)
    from flax import nnx  # on use: JAX/Flax; this module imports without them (see the module docstring)
    if isinstance(params, nnx.State):
        params = nnx.to_pure_dict(params)
    out: dict[str, np.ndarray] = {}

    def walk(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        else:
            out[prefix] = np.asarray(jax.device_get(getattr(node, "value", node)))
    walk("", params)
    return out


def _cast(arrays: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    if dtype not in DTYPES:
        raise ValueError(f"param dtype must be one of {DTYPES}, got {dtype!r}")
    np_dtype = np.float32 if dtype == "float32" else ml_dtypes.bfloat16
    return {k: np.ascontiguousarray(v.astype(np_dtype) if np.issubdtype(v.dtype, np.floating) or
                                    v.dtype == ml_dtypes.bfloat16 else v) for k, v in arrays.items()}


# ---- export ----------------------------------------------------------------------------------------

def export(out, *, config, params, step: int, tokenizer_dir=None, spec: SamplingSpec | None = None,
           metrics: dict | None = None, dtype: str = "float32", notes: str = "", overwrite: bool = False
           ) -> pathlib.Path:
    """Writes a bundle to `out` atomically (a sibling temp folder renamed into place)."""
    out = pathlib.Path(out)
    if out.exists() and not overwrite:
        raise BundleError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
    tokenizers = {}
    if tokenizer_dir is not None:
        from omni_tokenizers.registry import load_all  # on use: the tokenizers import JAX
        tokenizers = load_all(tokenizer_dir)
        check_tokenizers(config, tokenizers)
    if spec is None:
        spec = infer_spec(config, tokenizers)
    arrays = _cast(flat_params(params), dtype)
    check_param_shapes(config, {k: (v.shape, str(v.dtype)) for k, v in arrays.items()})
    layout = model_layout(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a bundle is shared like any folder
    try:
        (tmp / CONFIG).write_text(config_to_json(config))
        save_file(arrays, str(tmp / PARAMS), metadata={"format": "omni-params", "omni_version": omni.__version__,
                                                       "step": str(int(step)), "dtype": dtype})
        for m in tokenizers:
            shutil.copytree(pathlib.Path(tokenizer_dir) / m, tmp / TOKENIZERS / m)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "omni_version": omni.__version__,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "step": int(step), "param_dtype": dtype, "config": to_dict(config), "sampling": spec.to_dict(),
            "tokenizers": sorted(tokenizers), "metrics": {k: float(v) for k, v in (metrics or {}).items()},
            "num_params": int(sum(v.size for v in arrays.values())), **layout,
        }
        (tmp / CARD).write_text(model_card(manifest, notes))
        manifest["files"] = {str(p.relative_to(tmp)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                             for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_tokenizers(config, tokenizers: dict) -> None:
    """Each tokenizer's codes must fit its modality's range of the unified vocabulary (audio: the levels used)."""
    vocab = config.vocab.build()
    for m, tok in tokenizers.items():
        if m not in vocab.modalities:
            continue
        n = vocab.num_codes(m)
        need = tok.vocab_size
        if m == "audio" and hasattr(tok, "codebook_size"):
            need = tok.codebook_size * config.data.audio_quantizers
        if m == "text" and need != n:
            raise BundleError(f"the text tokenizer has {need} ids but vocab.text is {n}; they must be equal")
        if need > n:
            raise BundleError(f"the {m} tokenizer has {need} codes but vocab.{m} is only {n}")


def model_layout(config) -> dict:
    """What a reader of params.safetensors needs besides the arrays, as manifest keys:

    `vocab`: {"size", "special_tokens": {name: id}, "modalities": {m: {"start", "stop", "code_offset",
    "codes", "begin_id", "end_id"}}}: modality m owns global ids [start, stop); its local code k is id
    code_offset + k; its output head is columns [start, stop) of `unembed`.
    `modality_axis`: modality names in the order of every parameter axis named "modality" (an axis of
    size 1 there means that weight family is tied: one copy shared by all modalities).
    `params`: {name: {"shape", "axes"}} with the logical axis names of each array.
    """
    from flax import nnx  # on use: JAX/Flax; this module imports without them (see the module docstring)

    from omni.model import build_model  # on use: JAX
    vocab = config.vocab.build()
    ranges = {}
    for m in vocab.modalities:
        start, stop = vocab.range(m)
        ranges[m] = {"start": start, "stop": stop, "code_offset": vocab.code_offset(m), "codes": vocab.num_codes(m),
                     "begin_id": vocab.begin_id(m), "end_id": vocab.end_id(m)}
    abstract = nnx.eval_shape(lambda: build_model(config))
    params = {"/".join(map(str, path)): {"shape": list(v.get_value().shape), "axes": list(v.axes)}
              for path, v in nnx.to_flat_state(nnx.state(abstract, nnx.Param))}
    return {"vocab": {"size": vocab.size, "special_tokens": {t: i for i, t in enumerate(vocab.special_tokens)},
                      "modalities": ranges},
            "modality_axis": list(mod.names()), "params": params}


def check_param_shapes(config, shapes: dict[str, tuple]) -> None:
    """Parameter names and shapes must be exactly those of the model `config` builds."""
    from flax import nnx  # on use: JAX/Flax; this module imports without them (see the module docstring)

    from omni.model import build_model  # on use: JAX
    abstract = nnx.eval_shape(lambda: build_model(config))
    want = {k: tuple(v.shape) for k, v in flat_params_abstract(nnx.state(abstract, nnx.Param)).items()}
    got = {k: tuple(s) for k, (s, _) in shapes.items()}
    if set(want) != set(got):
        raise BundleError(f"parameters do not match the config's model: missing {sorted(set(want) - set(got))[:5]}, "
                          f"unexpected {sorted(set(got) - set(want))[:5]}")
    bad = [f"{k}: {got[k]} != {want[k]}" for k in sorted(want) if want[k] != got[k]]
    if bad:
        raise BundleError(f"parameter shapes do not match the config's model: {bad[:5]}")


def flat_params_abstract(state) -> dict:
    from flax import nnx  # on use: JAX/Flax; this module imports without them (see the module docstring)
    return {"/".join(str(p) for p in path): v.get_value() for path, v in nnx.to_flat_state(state)}


# ---- verify + load ---------------------------------------------------------------------------------

def read_manifest(path) -> dict:
    """Reads and checks manifest.json (format, versions, self-hash); raises BundleError."""
    root = pathlib.Path(path)
    if not root.is_dir():
        raise BundleError(f"no bundle at {root}: expected a folder written by `python launch/export.py`")
    mf = root / MANIFEST
    if not mf.is_file():
        raise BundleError(f"{root} is not an omni bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{mf} is corrupt (not valid JSON: {e}); re-export the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{mf} is not an omni bundle manifest (expected format {FORMAT!r})")
    fv = manifest.get("format_version")
    if fv != FORMAT_VERSION:
        newer = isinstance(fv, int) and fv > FORMAT_VERSION
        raise BundleError(f"{root} has bundle format version {fv!r}; this omni ({omni.__version__}) reads version "
                          f"{FORMAT_VERSION}" + ("; upgrade omni" if newer else "; re-export it with this omni"))
    if _version_tuple(manifest.get("omni_version", "")) != _version_tuple(omni.__version__):
        raise BundleError(f"{root} was written by omni {manifest.get('omni_version')}, incompatible with omni "
                          f"{omni.__version__} (major.minor must match); re-export it with this version")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BundleError(f"{mf} was modified after export (its sha256 does not match); re-export the bundle")
    return manifest


def verify(path, *, hashes: bool = True) -> dict:
    """Checks every file listed in the manifest: present, exact size, and (with `hashes`) sha256."""
    root = pathlib.Path(path)
    manifest = read_manifest(root)
    for name, info in manifest.get("files", {}).items():
        f = root / name
        if not f.is_file():
            raise BundleError(f"{root} is incomplete: {name} is missing")
        size = f.stat().st_size
        if size != info["bytes"]:
            raise BundleError(f"{root}/{name} is truncated or altered: {size} bytes, the manifest says "
                              f"{info['bytes']}")
        if hashes and sha256_file(f) != info["sha256"]:
            raise BundleError(f"{root}/{name} was modified: its sha256 does not match the manifest")
    for need in (CONFIG, PARAMS):
        if need not in manifest.get("files", {}):
            raise BundleError(f"{root}: the manifest lists no {need}")
    return manifest


def load(path, *, devices=None, mesh_config=None, param_dtype: str | None = None, verify_hashes: bool = True
         ) -> LoadedModel:
    """Verifies a bundle and returns a ready model + tokenizers, sharded over `devices` (default: all)."""
    root = pathlib.Path(path)
    manifest = verify(root, hashes=verify_hashes)
    text = (root / CONFIG).read_text()
    # compared as written: a bundle exported before a config field existed lacks it in both places (and loads
    # with the field's default)
    if json.loads(text) != manifest["config"]:
        raise BundleError(f"{root}: {CONFIG} disagrees with the manifest's config")
    try:
        cfg = config_from_json(text)
    except ValueError as e:
        raise BundleError(f"{root}/{CONFIG} does not match this omni's config schema: {e}") from None
    if "vocab" in manifest:  # bundles exported before these keys existed lack them; present, they must match
        layout = model_layout(cfg)
        bad = [k for k in layout if manifest.get(k) != json.loads(json.dumps(layout[k]))]
        if bad:
            raise BundleError(f"{root}/{MANIFEST}: {bad} disagree with the config's model (vocabulary ranges, "
                              f"modality order or parameter axes of this omni); re-export the bundle")
    spec = SamplingSpec.from_dict(manifest["sampling"])
    model, mesh = _load_model(root / PARAMS, cfg, devices, mesh_config, param_dtype)
    tokenizers = {}
    if manifest.get("tokenizers"):
        from omni_tokenizers.registry import load_all  # on use: the tokenizers import JAX
        try:
            tokenizers = load_all(root / TOKENIZERS)
        except ValueError as e:
            raise BundleError(f"{root}: cannot load the bundled tokenizers: {e}") from None
        missing = sorted(set(manifest["tokenizers"]) - set(tokenizers))
        if missing:
            raise BundleError(f"{root}: tokenizers {missing} listed in the manifest are missing")
    return LoadedModel(model, cfg, spec, tokenizers, mesh=mesh, manifest=manifest)


def _load_model(params_path: pathlib.Path, cfg, devices, mesh_config, param_dtype):
    """Reads params.safetensors into the model of `cfg`, placed on one device or a mesh."""
    import jax  # on use: JAX/Flax; this module imports without them (see the module docstring)
    from flax import nnx  # on use: JAX/Flax; this module imports without them (see the module docstring)

    from omni import sharding  # on use: JAX
    from omni.model import build_model  # on use: JAX
    devices = list(jax.devices() if devices is None else devices)
    abstract = nnx.eval_shape(lambda: build_model(cfg))
    graphdef, state = nnx.split(abstract)
    mesh, shardings = None, None
    if len(devices) > 1:
        mc = mesh_config or cfg.mesh
        try:
            sharding.mesh_shape(mc, len(devices))
        except ValueError:
            mc = MeshConfig(data=-1, fsdp=1, tensor=1, rules=mc.rules)  # replicate over the devices
        mesh = sharding.make_mesh(mc, devices)
        shardings = dict(nnx.to_flat_state(sharding.named_shardings(mesh, sharding.state_specs(state, mc.rules, mesh))))
    flat = nnx.to_flat_state(state)
    try:
        with safe_open(str(params_path), "np") as f:
            names = set(f.keys())
            want = {"/".join(map(str, p)) for p, _ in flat}
            if names != want:
                raise BundleError(f"{params_path} does not match the config's model: missing "
                                  f"{sorted(want - names)[:5]}, unexpected {sorted(names - want)[:5]}")
            for p, v in flat:
                a = f.get_tensor("/".join(map(str, p)))
                if a.shape != v.get_value().shape:
                    raise BundleError(f"{params_path}: {'/'.join(map(str, p))} has shape {a.shape}, the config's "
                                      f"model expects {v.get_value().shape}")
                if param_dtype:
                    a = a.astype(jax.numpy.dtype(param_dtype))
                v.set_value(jax.device_put(a, shardings[p] if shardings else devices[0]))
    except SafetensorError as e:
        raise BundleError(f"{params_path} is not a readable safetensors file: {e}") from None
    return nnx.merge(graphdef, nnx.from_flat_state(flat)), mesh
