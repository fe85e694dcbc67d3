"""Tokenizer training on the one trainer across meshes and processes: 8 fake devices ((8,1) and (2,4)
meshes) match 1 device; the contract command; exact resume after SIGKILL; 2 processes x 4 devices resume a
1-process run; the step lowers ahead of time from abstract inputs."""
import json
import pathlib
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from omni_tokenizers.core import base
from omni_tokenizers.core.data import synthetic_images
from omni_tokenizers.image.train import train
from omni_tokenizers.registry import load_tokenizer
from omni_tokenizers.trainers import preset

from omni.config import apply_overrides
from tests import train_utils as tu

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAUNCH = [sys.executable, str(ROOT / "launch" / "train_tokenizer.py"), "--modality", "image", "--config", "tiny",
          "--data", "synthetic", "--limit", "64", "--no-progress"]


def _rows(run_dir, kind="train"):
    return [r for r in (json.loads(x) for x in (pathlib.Path(run_dir) / "metrics.jsonl").read_text().splitlines())
            if r["kind"] == kind]


def _fit(out, *overrides):
    job = apply_overrides(preset("image", "tiny"), ["train.steps=8", "train.log_every=1", "eval_items=8",
                                                       "train.checkpoint_every=8", *overrides])
    train(job, synthetic_images(64, 32, seed=0), synthetic_images(8, 32, seed=1), out, progress=False)
    return np.array([r["loss"] for r in _rows(out / "train")]), load_tokenizer(out)


@pytest.mark.xdist_group("tokenizer_meshes")
def test_eight_devices_match_one_device(tmp_path):
    """Same data order (one process), same init; only the reduction order over the sharded batch differs.
    Measured after 8 steps: losses within 1.1e-7 relative, weights within 7e-6 absolute. Stated: losses
    rtol 1e-5, weights rtol 1e-3 + atol 5e-5 (float32 round-off grown through Adam)."""
    one, tok1 = _fit(tmp_path / "one", "mesh.devices=1")
    dp, tok_dp = _fit(tmp_path / "dp", "mesh.data=8")
    fsdp, tok_fsdp = _fit(tmp_path / "fsdp", "mesh.data=2", "mesh.fsdp=4")
    assert len(one) == 8 and one[-1] < one[0]
    np.testing.assert_allclose(dp, one, rtol=1e-5)
    np.testing.assert_allclose(fsdp, one, rtol=1e-5)
    ref = base.module_arrays(tok1.model)
    for tok in (tok_dp, tok_fsdp):
        got = base.module_arrays(tok.model)
        for name, want in ref.items():
            np.testing.assert_allclose(got[name], want, rtol=1e-3, atol=5e-5, err_msg=name)
    # (2,4) really shards the large weights over fsdp
    meta = json.loads((tmp_path / "fsdp" / "train" / "config.json").read_text())
    assert meta["mesh"]["fsdp"] == 4


def test_contract_command_on_eight_devices(tmp_path):
    out = tmp_path / "tok"
    r = subprocess.run([sys.executable, str(ROOT / "launch" / "train_tokenizer.py"), "--modality", "image",
                        "--config", "tiny", "--data", "synthetic", "--out", str(out), "mesh.data=8", "train.steps=4",
                        "--no-progress"], env=tu.env(devices=8), cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "'data': 8" in r.stdout
    tok = load_tokenizer(out)
    assert tok.encode(np.zeros((1, 64, 64, 3), np.float32)).shape == (1, 256)
    rows = _rows(out / "train")
    assert [x["step"] for x in rows][-1] == 4
    assert rows[-1]["examples_per_s"] > 0 and rows[-1]["tflops_per_device"] > 0  # FLOPs from cost analysis
    assert (out / "train" / "config.json").is_file() and (out / "train" / "tensorboard").is_dir()
    assert tu.committed_steps(out / "train")[-1] == 4


def test_sigterm_then_sigkill_then_resume_is_bit_identical(tmp_path):
    args = ["train.steps=30", "train.checkpoint_every=2", "train.log_every=1", "model.channels=8,16", "eval_items=4"]
    env = tu.env(devices=8)
    ref = tmp_path / "ref"
    assert subprocess.run(LAUNCH + ["--out", str(ref)] + args, env=env, cwd=ROOT, capture_output=True,
                          timeout=600).returncode == 0
    out = tmp_path / "killed"

    def start(name):
        return subprocess.Popen(LAUNCH + ["--out", str(out)] + args, env=env, cwd=ROOT,
                                stdout=open(tmp_path / name, "w"), stderr=subprocess.STDOUT)
    p = start("term.log")  # SIGTERM -> a checkpoint at the next step, exit 0
    tu.wait_for(lambda: 2 in tu.committed_steps(out / "train"), p, what="checkpoint 2")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=300) == 0 and "SIGTERM" in (tmp_path / "term.log").read_text()
    saved = tu.committed_steps(out / "train")[-1]
    assert saved >= 2 and not (out / "config.json").exists()
    p = start("kill.log")  # SIGKILL after the next checkpoint commits
    tu.wait_for(lambda: tu.committed_steps(out / "train")[-1] >= saved + 2, p, what="a later checkpoint")
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL
    r = subprocess.run(LAUNCH + ["--out", str(out)] + args, env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "resumed from" in r.stdout, r.stdout[-2000:]
    a, b = (pathlib.Path(d) / "weights.safetensors" for d in (ref, out))
    assert a.read_bytes() == b.read_bytes()  # bit-identical weights
    ref_loss = {x["step"]: x["loss"] for x in _rows(ref / "train")}
    assert {x["step"]: x["loss"] for x in _rows(out / "train")} == ref_loss  # each step's row once, same loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.xdist_group("multihost")
def test_two_processes_resume_a_one_process_run(tmp_path):
    args = ["train.checkpoint_every=2", "train.log_every=1", "model.channels=8,16", "eval_items=4"]
    out = tmp_path / "tok"
    r = subprocess.run(LAUNCH + ["--out", str(out)] + args + ["train.steps=6", "--until", "4"],
                       env=tu.env(devices=8), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    port = _free_port()
    procs = []
    for i in range(2):
        env = tu.env(devices=4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=2,
                     JAX_PROCESS_ID=i)
        procs.append(subprocess.Popen(LAUNCH + ["--out", str(out)] + args + ["train.steps=6", "mesh.fsdp=2"], env=env,
                                      cwd=ROOT,
                                      stdout=open(tmp_path / f"p{i}.log", "w"), stderr=subprocess.STDOUT))
    rcs = [p.wait(timeout=600) for p in procs]
    logs = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
    assert rcs == [0, 0], [x[-3000:] for x in logs]
    assert "2 process(es)" in logs[0] and "at step 4" in logs[0]  # restored onto another mesh and process count
    assert "'fsdp': 2" in logs[0]
    assert [x["step"] for x in _rows(out / "train")] == [1, 2, 3, 4, 5, 6]  # written once, by process 0
    assert tu.committed_steps(out / "train")[-1] == 6
    assert load_tokenizer(out).vocab_size == 1000


def test_train_and_encode_steps_lower_from_abstract_inputs():
    """The AOT API launch/plan.py uses: no data, no weights, any mesh of the available devices."""
    from jax.sharding import Mesh
    from omni_tokenizers.programs import encode_program, train_program

    step, state, batch, lr = train_program("image", preset("image", "tiny"), {"data": 2, "fsdp": 4},
                                           per_device_batch=2)
    assert batch["media"].shape == (16, 64, 64, 3)
    lowered = step.lower(state, batch, lr)
    assert "fsdp" in str(lowered.as_text()) or lowered.compile() is not None
    enc, params, media = encode_program("image", preset("image", "tiny"), {"data": 8}, per_device_batch=2)
    ids = jax.eval_shape(enc, params, media)
    assert ids.shape == (16, 256) and ids.dtype == np.int32
    assert isinstance(media.sharding.mesh, Mesh)
    # an adversarial audio fit's program holds the discriminators too: the step the trainer runs
    job = apply_overrides(preset("audio", "tiny"), ["adversarial.weight=0.1", "adversarial.periods=2",
                                                   "adversarial.resolutions=64", "adversarial.spec_channels=4"])
    step, state, batch, lr = train_program("audio", job, {"data": 8}, per_device_batch=1)
    assert set(state.params) == {"disc", "model"} and batch["wave"].shape == (8, 8000)
    assert step.lower(state, batch, lr) is not None
