"""Cheap checks: cluster launchers' dry runs, distributed setup from env vars, MFU arithmetic, bad configs."""
import subprocess

import pytest

from omni.config import ConfigError, load_config
from omni.train import distributed
from omni.train.metrics import peak_tflops, throughput


def test_tpu_pod_dry_run_prints_the_gcloud_command(repo_root):
    out = subprocess.run(["bash", str(repo_root / "launch/tpu_pod.sh"), "--dry-run", "--tpu", "pod1", "--zone",
                          "us-central2-b", "--repo", "/srv/omni", "--", "--config", "configs/base.py",
                          "run_dir=/mnt/runs/base", "steps=10"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("gcloud compute tpus tpu-vm ssh pod1 --zone us-central2-b --worker=all --command ")
    assert ("cd /srv/omni && OMNI_DISTRIBUTED=1 /srv/omni/.venv/bin/python launch/train.py --no-progress "
            "--config configs/base.py run_dir=/mnt/runs/base steps=10") in out


def test_tpu_pod_requires_tpu_and_zone(repo_root):
    r = subprocess.run(["bash", str(repo_root / "launch/tpu_pod.sh"), "--", "--config", "base"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--tpu and --zone are required" in r.stderr


def test_slurm_dry_run_prints_the_srun_command(repo_root):
    env = {"PATH": "/usr/bin:/bin", "OMNI_REPO": "/srv/omni"}
    out = subprocess.run(["bash", str(repo_root / "launch/slurm_gpu.sbatch"), "--dry-run", "--config",
                          "configs/base.py", "run_dir=/shared/runs/base"], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert ("srun --kill-on-bad-exit=1 --export=ALL\\,OMNI_DISTRIBUTED=1 --chdir /srv/omni "
            "/srv/omni/.venv/bin/python launch/train.py --no-progress --config configs/base.py "
            "run_dir=/shared/runs/base") in out
    r = subprocess.run(["bash", str(repo_root / "launch/slurm_gpu.sbatch"), "--config", "base"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "not inside a SLURM job" in r.stderr


def test_launchers_run_the_tokenizer_entries(repo_root):
    out = subprocess.run(["bash", str(repo_root / "launch/tpu_pod.sh"), "--dry-run", "--tpu", "pod1", "--zone", "z",
                          "--repo", "/srv/omni", "--entry", "train_tokenizer", "--", "--modality", "image",
                          "--config", "base", "--out", "/mnt/tok/image"], capture_output=True, text=True,
                         check=True).stdout
    assert ("OMNI_DISTRIBUTED=1 /srv/omni/.venv/bin/python launch/train_tokenizer.py --no-progress --modality image "
            "--config base --out /mnt/tok/image") in out
    env = {"PATH": "/usr/bin:/bin", "OMNI_REPO": "/srv/omni"}
    out = subprocess.run(["bash", str(repo_root / "launch/slurm_gpu.sbatch"), "--dry-run", "--entry", "tokenize_corpus",
                          "--config", "base"], capture_output=True, text=True, check=True, env=env).stdout
    assert "/srv/omni/.venv/bin/python launch/tokenize_corpus.py --no-progress --config base" in out
    for cmd in (["bash", str(repo_root / "launch/tpu_pod.sh"), "--tpu", "p", "--zone", "z", "--entry", "nope", "--",
                 "x"], ["bash", str(repo_root / "launch/slurm_gpu.sbatch"), "--dry-run", "--entry", "nope", "x"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert r.returncode == 2 and "--entry must be" in r.stderr


@pytest.mark.parametrize("env,expected", [
    ({}, False),
    ({"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1", "JAX_COORDINATOR_ADDRESS": "h:1234"}, True),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, False),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, True),
    ({"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"}, True),
    ({"TPU_WORKER_HOSTNAMES": "w0"}, False),
    ({"OMNI_DISTRIBUTED": "1"}, True),
    ({"OMNI_DISTRIBUTED": "0", "SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, False),
])
def test_distributed_is_wanted_from_the_environment(env, expected):
    assert distributed.wanted(env)[0] is expected


def test_distributed_env_errors_are_clear():
    with pytest.raises(ValueError, match="OMNI_DISTRIBUTED must be 0 or 1"):
        distributed.wanted({"OMNI_DISTRIBUTED": "maybe"})
    with pytest.raises(ValueError, match="JAX_PROCESS_ID is not"):
        distributed.explicit_args({"JAX_NUM_PROCESSES": "2", "JAX_COORDINATOR_ADDRESS": "h:1"})
    with pytest.raises(ValueError, match="JAX_COORDINATOR_ADDRESS"):
        distributed.explicit_args({"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"})
    assert distributed.explicit_args({"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1",
                                      "JAX_COORDINATOR_ADDRESS": "h:1"}) == {
        "coordinator_address": "h:1", "num_processes": 2, "process_id": 1}


def test_peaks_and_mfu():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("TPU v4") == 275.0
    assert peak_tflops("TPU v5 lite") == 197.0
    assert peak_tflops("TPU v5p") == 459.0
    assert peak_tflops("TPU v6 lite") == 918.0
    assert peak_tflops("cpu") is None
    assert peak_tflops("cpu", override=2.0) == 2.0
    # 1e6 tokens in 2 s at 3e8 FLOPs/token on 4 devices: 3.75e13 FLOP/s per device = 37.5 TFLOP/s.
    t = throughput(1e6, 2.0, 3e8, 4, 75.0)
    assert t["tokens_per_s"] == 5e5
    assert t["tflops_per_device"] == pytest.approx(37.5)
    assert t["mfu"] == pytest.approx(0.5)
    assert "mfu" not in throughput(1e6, 2.0, 3e8, 4, None)


@pytest.mark.parametrize("override,message", [
    ("train.grad_accum=3", "multiple of train.grad_accum"),
    ("train.min_lr_ratio=2", "min_lr_ratio"),
    ("train.eval_every=-1", "train.eval_every must be >= 0"),
    ("mesh.devices=-2", "mesh.devices"),
    ("train.schedule=wsd", "expected one of"),
])
def test_bad_train_configs_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])


def test_mixed_precision_state_is_fp32_for_bf16_compute():
    import jax
    import jax.numpy as jnp

    from omni.train.mesh import train_mesh
    from omni.train.optimizer import make_optimizer
    from omni.train.state import abstract_train_state
    cfg = load_config("tiny", ["model.dtype=bfloat16", "model.param_dtype=float32", "mesh.devices=1"])
    state = abstract_train_state(cfg, train_mesh(cfg), make_optimizer(cfg))
    leaves = jax.tree.leaves((state.params, state.opt_state))
    floats = [x.dtype for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and all(d == jnp.float32 for d in floats)


def test_sigterm_handler_is_installed_before_jax_is_imported():
    """The launchers' first lines (omni.cli, omni.config, omni.train.preemption) import no jax, so a SIGTERM that
    arrives while jax loads or the step compiles is caught (omni.train is a lazy package)."""
    import subprocess
    import sys
    code = ("import sys\nfrom omni.cli import absl_flags_parsed\nfrom omni.config import load_config\n"
            "from omni.train.preemption import install_early_handler\ninstall_early_handler()\n"
            "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if m.startswith('jax'))[:5]\n"
            "from omni.train import train, latest_step\nassert 'jax' in sys.modules and callable(train)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
