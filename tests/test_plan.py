"""The compile plan: omni's programs compiled by the real TPU compiler (libtpu, ahead of time, on this CPU host)
for two TPU generations, on meshes with data, fsdp and tensor axes; slice names; fits / does not fit."""
import json
import os
import pathlib
import subprocess
import sys

import jax
import pytest

from omni.chips import chip_for_device_kind
from omni.config import load_config
from omni.plan import compile as plan_compile
from omni.plan.tokenizers import tokenizer_programs
from omni.plan.topology import parse_topology, tpu_devices

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.xdist_group("tpu_compile"), pytest.mark.integration]  # one worker: libtpu compiles

P_KEYS = {"compiled", "error", "attention_impl", "bytes_per_device", "hbm_bytes_per_device", "fits",
          "flops_per_step"}
BYTE_KEYS = {"arguments", "outputs", "temporaries", "generated_code", "total"}


@pytest.mark.parametrize("name,chips,shape,libtpu,devices", [
    ("v4-8", 4, (2, 2, 1), "v4:2x2x1", 4), ("v5p-8", 4, (2, 2, 1), "v5:2x2x1", 4),
    ("v5p-64", 32, (2, 4, 4), "v5:2x4x4", 32), ("v5p-128", 64, (4, 4, 4), "v5:4x4x4", 64),
    ("v5e-4", 4, (2, 2), "v5e:2x2", 4), ("v5litepod-16", 16, (4, 4), "v5e:4x4", 16),
    ("v6e-4", 4, (2, 2), "v6e:2x2", 4), ("v6e-256", 256, (16, 16), "v6e:16x16", 256),
    ("2xv5p-8", 4, (2, 2, 1), "v5:2x2x1", 8)])
def test_slice_names(name, chips, shape, libtpu, devices):
    t = parse_topology(name)
    assert (t.chips, t.shape, t.libtpu_name, t.num_devices) == (chips, shape, libtpu, devices)


@pytest.mark.parametrize("bad", ["v5p-6", "v5p-2", "v7-8", "v5e-3", "tpu", "0xv5p-8"])
def test_bad_slice_names_name_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="v5p-8|v5e-4"):
        parse_topology(bad)


def test_libtpu_describes_the_slice_devices(tmp_path):
    for name in ("v5p-64", "2xv5p-8", "v6e-16"):
        topo = parse_topology(name)
        devs = tpu_devices(topo, log_dir=tmp_path)
        assert len(devs) == topo.num_devices and devs[0].platform == "tpu"
        assert chip_for_device_kind(devs[0].device_kind) == topo.chip


def _plan(config, topology, overrides=(), programs=plan_compile.PROGRAMS, extra=None, tmp=None):
    cfg = load_config(config, list(overrides) + ["model.attention_impl=auto"])
    topo = parse_topology(topology)
    return plan_compile.plan(cfg, topo, tpu_devices(topo, log_dir=tmp), programs=programs, extra=extra or {},
                             adapt=not any(o.startswith("mesh.") for o in overrides))


def _check_compiled_with_kernels(plan, names):
    for name in names:
        p = plan["programs"][name]
        assert P_KEYS <= set(p) and p["compiled"], (name, p["error"])
        assert set(p["bytes_per_device"]) >= BYTE_KEYS and p["bytes_per_device"]["total"] > 0
        assert p["fits"] and p["flops_per_step"] > 0
        if name in plan_compile.PROGRAMS:
            # The Mosaic flash kernels are in the compiled program: fwd (+ dq, dk/dv) per scanned layer body.
            assert p["attention_impl"] == "pallas" and p["pallas_kernels"] >= (3 if name == "train_step" else 1)


@pytest.mark.parametrize("config,topology,overrides", [
    ("tiny", "v6e-4", ("mesh.data=1", "mesh.fsdp=2", "mesh.tensor=2")),
    ("demo", "v5p-16", ("mesh.data=2", "mesh.fsdp=2", "mesh.tensor=2")),
    ("demo", "v6e-4", ("mesh.data=2", "mesh.fsdp=1", "mesh.tensor=2")),
])
def test_programs_compile_for_tpu_with_pallas_attention(config, topology, overrides, tmp_path):
    """Train (Pallas flash fwd + bwd inside shard_map), eval and KV-cache decode steps, and a tokenizer's
    encode step, compiled by libtpu for two TPU generations on meshes using data, fsdp and tensor axes."""
    extra = {"image_encode": tokenizer_programs()["image_encode"]}
    plan = _plan(config, topology, overrides, extra=extra, tmp=tmp_path)
    assert plan["devices"] == parse_topology(topology).num_devices
    assert plan["mesh"] == {o.split("=")[0][5:]: int(o.split("=")[1]) for o in overrides}
    _check_compiled_with_kernels(plan, list(plan_compile.PROGRAMS) + ["image_encode"])
    train = plan["programs"]["train_step"]
    cfg = load_config(config)
    from omni.model import model_stats
    assert train["flops_per_step"] == pytest.approx(
        model_stats(cfg).train_flops_per_token * cfg.train.batch_size * cfg.train.seq_len)


def test_cli_contract_tiny_v5p_8_every_program(tmp_path):
    r = subprocess.run([sys.executable, "launch/plan.py", "--config", "tiny", "--topology", "v5p-8", "--json",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["config"] == "tiny" and out["topology"] == "v5p-8" and out["devices"] == 4
    assert out["mesh"] == {"data": 4, "fsdp": 1, "tensor": 1}
    assert set(out["programs"]) == {"train_step", "eval_step", "decode_step"} | {
        f"{m}_{step}" for m in ("image", "video", "audio") for step in ("train", "encode")}
    _check_compiled_with_kernels(out, out["programs"])
    assert json.loads((tmp_path / "tiny-v5p-8" / "plan.json").read_text()) == out
    assert (tmp_path / "tiny-v5p-8" / "libtpu").is_dir()  # libtpu's logs stay in the run dir
    assert r.stderr.strip() == ""


def test_plans_bypass_a_persistent_compilation_cache(tmp_path):
    """A slice's executables cannot be loaded back on this host: with JAX_COMPILATION_CACHE_DIR set (as on pods,
    and in this suite) a plan keeps them out of the cache, so the second plan finds none to fail on (jax warned once
    per program before). The cache still holds the host's own small programs."""
    cache = tmp_path / "cache"
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    for i in range(2):
        r = subprocess.run([sys.executable, "launch/plan.py", "--config", "tiny", "--topology", "v6e-4", "--json",
                            "--programs", "decode_step", "--out", str(tmp_path / f"plan{i}")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and r.stderr.strip() == "", r.stderr[-2000:]
        assert json.loads(r.stdout)["programs"]["decode_step"]["compiled"]
    assert cache.is_dir()
    with plan_compile.without_persistent_cache():  # and the process's own setting is back afterwards
        assert not jax.config.jax_enable_compilation_cache
    assert jax.config.jax_enable_compilation_cache


def test_7b_on_one_v5e_4_does_not_fit_with_the_numbers(tmp_path):
    plan = _plan("7b", "v5e-4", programs=("train_step",), tmp=tmp_path)
    p = plan["programs"]["train_step"]
    assert plan["mesh"] == {"data": 1, "fsdp": 1, "tensor": 4} and "does not fit 4 devices" in plan["mesh_note"]
    assert p["fits"] is False
    # 26.4B fp32 params + two AdamW moments over 4 devices: far beyond 16 GiB, known from shapes alone.
    assert p["argument_bytes_per_device"] > 60 * 2**30 > 16 * 2**30 == p["hbm_bytes_per_device"]
    if p["compiled"]:
        assert p["bytes_per_device"]["total"] > 0.9 * p["hbm_bytes_per_device"]
    else:  # the compiler's own verdict, verbatim
        assert "memory" in p["error"].lower() and "hbm" in p["error"].lower()


@pytest.mark.parametrize("argv,msg", [
    (["--config", "tiny", "--topology", "v5p-7"], "plan: "),
    (["--config", "tiny", "--topology", "v5p-8", "--programs", "nope"], "plan: unknown program"),
    (["--config", "nope", "--topology", "v5p-8"], "config error: "),
    (["--config", "tiny", "--topology", "v5p-8", "mesh.data=3"], "config error: "),
    (["--config", "tiny", "--topology", "v5p-8", "--mfu", "2"], "plan: --mfu")])
def test_bad_arguments_exit_2_with_one_line(argv, msg, tmp_path):
    r = subprocess.run([sys.executable, "launch/plan.py", *argv, "--out", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith(msg) and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_fit_batch_doubles_or_halves_from_the_config_batch(monkeypatch):
    """Powers of two times the config's batch, on a stand-in judge (no compile) that fits up to `limit` rows."""
    cfg = load_config("tiny", ["train.grad_accum=2", "train.batch_size=16"])
    monkeypatch.setattr(plan_compile, "batch_shards", lambda cfg, mesh: 4)
    monkeypatch.setattr(plan_compile.P, "train_program", lambda cfg, mesh: cfg.train.batch_size)

    class Mesh:
        devices = __import__("numpy").zeros((4, 1, 1))

    for limit, want in ((44, 32), (200, 128), (15, 8), (7, None)):
        monkeypatch.setattr(plan_compile, "judge", lambda build, topo, impl, mfu, limit=limit: {
            "compiled": True, "fits": build() <= limit, "bytes_per_device": None})
        best, tried = plan_compile.fit_batch(cfg, Mesh(), None, "pallas", 0.4)
        assert best == want, (limit, tried)
        assert all(b % 8 == 0 and (b // 8) & (b // 8 - 1) == 0 for b in tried)  # 8 x powers of two


def test_h100_node_plan_compiles_the_triton_kernels_without_a_gpu(tmp_path):
    """The same plan for an 8 x H100 node through the PyPI CUDA plugin with an XLA GPU target description (no
    GPU here): the train step with the Pallas Triton flash kernels and the decode step, on a 2x2x2 mesh."""
    r = subprocess.run([sys.executable, "launch/plan.py", "--config", "tiny", "--topology", "h100-8", "--json",
                        "--programs", "train_step,decode_step", "--out", str(tmp_path),
                        "mesh.data=2", "mesh.fsdp=2", "mesh.tensor=2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["devices"] == 8 and out["chip"] == "h100" and out["target"] == "cuda:1x1x8"
    assert out["hbm_bytes_per_device"] == 84_978_434_048
    _check_compiled_with_kernels(out, ["train_step", "decode_step"])
    assert r.stderr.strip() == ""  # the plugin's start-up messages go to the run's log


def test_fit_batch_jumps_to_the_batch_the_memory_predicts(monkeypatch):
    """With memory figures (10 GiB of state + 0.5 GiB per row, 90 GiB usable) the search jumps from the config
    batch to the predicted power of two (3 compiles instead of 5), and gives up at once when the state alone
    exceeds HBM; the compiler's out-of-memory message counts as a figure."""
    cfg = load_config("tiny", ["train.grad_accum=2", "train.batch_size=16"])
    monkeypatch.setattr(plan_compile, "batch_shards", lambda cfg, mesh: 4)
    monkeypatch.setattr(plan_compile.P, "train_program", lambda cfg, mesh: cfg.train.batch_size)
    gib = 2**30

    class Mesh:
        devices = __import__("numpy").zeros((4, 1, 1))

    class Topo:
        class chip:
            hbm_bytes = 100 * gib

    def judge(build, topo, impl, mfu, state=10):
        b = build()
        total = (state + 0.5 * b) * gib
        if total > 95 * gib:  # the compiler refuses: only its message and the argument bytes are known
            return {"compiled": False, "fits": False, "bytes_per_device": None, "argument_bytes_per_device":
                    state * gib, "error": f"RESOURCE_EXHAUSTED: the total memory required for HLO temporaries "
                                          f"({0.5 * b:.2f}G) exceeds available HBM (95.00G)."}
        return {"compiled": True, "fits": total <= 90 * gib, "error": None,
                "bytes_per_device": {"total": total, "arguments": state * gib}}
    monkeypatch.setattr(plan_compile, "judge", judge)
    best, tried = plan_compile.fit_batch(cfg, Mesh(), Topo(), "pallas", 0.4)
    assert best == 128 and sorted(tried) == [16, 128, 256]
    monkeypatch.setattr(plan_compile, "judge", lambda *a: judge(*a, state=95))
    best, tried = plan_compile.fit_batch(cfg, Mesh(), Topo(), "pallas", 0.4)
    assert best is None and len(tried) == 1


def test_fit_batch_searches_the_config_as_laid_out_on_the_mesh(monkeypatch, tmp_path):
    """The search compiles the step the trainer runs: one grouping chunk per batch shard (an unresolved config
    grouped the whole global batch as one chunk on every device: 4x the activations on a v6e-64)."""
    seen = {}

    def fit_batch(cfg, *args):
        seen["cfg"] = cfg
        return None, {}
    monkeypatch.setattr(plan_compile, "fit_batch", fit_batch)
    cfg = load_config("tiny", ["model.attention_impl=auto"])
    topo = parse_topology("v5p-8")
    plan_compile.plan(cfg, topo, tpu_devices(topo, tmp_path), fit=True, programs=())
    assert seen["cfg"].model.layout_chunks == 4 and cfg.model.layout_chunks == 0
