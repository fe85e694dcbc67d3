"""Two local processes x 4 CPU devices train, evaluate and checkpoint; the run resumes as 1 process x 8
on another mesh (params and optimizer state resharded by orbax)."""
import json
import socket

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omni.config import load_config
from omni.data.pipeline import make_iterator
from omni.model import build_model, loss_fn
from tests import train_utils as tu

ARGS = ["train.seq_len=64", "train.batch_size=8", "checkpoint_every=2", "train.log_every=1", "train.eval_every=4",
        "train.eval_batches=1", "seed=5"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _first_global_batch(cfg):
    """Step 1's global batch: each process's own rows, concatenated (row order does not change the mean)."""
    parts = []
    for i in range(2):
        it = make_iterator(cfg, "train", seed=cfg.seed, process_index=i, process_count=2)
        parts.append(next(it))
        it.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@pytest.mark.integration
@pytest.mark.xdist_group("multihost")
def test_two_processes_train_then_resume_as_one(tmp_path):
    d = tmp_path / "run"
    port = _free_port()
    procs = [tu.start(ARGS + ["steps=4", f"run_dir={d}"],
                      tu.env(devices=4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                             JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=i), tmp_path / f"p{i}.log") for i in range(2)]
    rcs = [p.wait(timeout=400) for p in procs]
    assert rcs == [0, 0], [(tmp_path / f"p{i}.log").read_text()[-3000:] for i in range(2)]
    assert "2 process(es)" in (tmp_path / "p0.log").read_text()
    rows = tu.rows(d)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # written once, by process 0
    assert [r["step"] for r in tu.rows(d, "eval")] == [4]
    assert tu.committed_steps(d) == [2, 4]
    states = [json.loads((d / "checkpoints" / "4" / "data" / f"process_{i}-of-2.json").read_text())
              for i in range(2)]
    assert [s["fingerprint"]["process_index"] for s in states] == [0, 1]

    # Step 1's loss is the loss of the initial params on both processes' rows together.
    cfg = load_config("tiny", ARGS + [f"run_dir={d}"])
    model = build_model(cfg, seed=cfg.seed)
    batch = {k: jnp.asarray(v) for k, v in _first_global_batch(cfg).items()}
    expected = float(jax.jit(lambda b: loss_fn(model, b)[0])(batch))
    np.testing.assert_allclose(rows[0]["loss"], expected, rtol=1e-5)

    # Resume the same run dir as one process with 8 devices on another mesh: (8, 1, 1) -> (2, 2, 2).
    rc, out = tu.run(ARGS + ["steps=6", f"run_dir={d}", "mesh.fsdp=2", "mesh.tensor=2"],
                     tu.env(devices=8),
                     tmp_path / "resume.log", timeout=400)
    assert rc == 0, out
    assert "at step 4" in out and "fresh order" in out  # 2 -> 1 processes: the data order restarts
    rows = tu.rows(d)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite(r["loss"]) for r in rows) and rows[-1]["loss"] < rows[0]["loss"]
    assert tu.committed_steps(d) == [2, 4, 6]
