"""launch/train.py end to end: the run-dir contract, resume after SIGKILL and SIGTERM with the same loss
sequence as an uninterrupted run, incompatible configs, non-finite stops, restoring params on another mesh."""
import json
import random
import signal
import time

import jax
import numpy as np
import pytest

from omni import modality as mod
from omni.config import ConfigError, config_from_json, load_config
from omni.train import load_model, load_params, train
from omni.train.checkpoint import latest_step
from omni.train.evaluate import evaluate
from tests import train_utils as tu

# One worker runs the whole module, so its module-scoped fixture is computed once under xdist --dist loadgroup.
pytestmark = [pytest.mark.xdist_group("train_loop"), pytest.mark.integration]

STEPS, EVERY = 40, 5
ARGS = ["train.seq_len=64", "train.batch_size=8", "mesh.devices=1", f"steps={STEPS}", f"checkpoint_every={EVERY}",
        "train.log_every=1", "train.eval_every=20", "train.eval_batches=2", "train.peak_tflops=1.0", "seed=3"]


@pytest.fixture(scope="session")  # session: built once per worker even if other modules interleave
def reference(tmp_path_factory):
    """An uninterrupted run."""
    d = tmp_path_factory.mktemp("ref")
    rc, out = tu.run(ARGS + [f"run_dir={d}"], tu.env(), d.parent / "ref.log")
    assert rc == 0, out
    return d


def test_run_dir_contract(reference):
    d = reference
    cfg = config_from_json((d / "config.json").read_text())
    assert cfg == load_config("tiny", ARGS + [f"run_dir={d}"])
    train_rows = tu.rows(d)
    assert [r["step"] for r in train_rows] == list(range(1, STEPS + 1))
    for r in train_rows:
        for key in ("loss", "grad_norm", "learning_rate", "tokens_per_s", "tflops_per_device", "mfu"):
            assert isinstance(r[key], float) and np.isfinite(r[key]), (key, r)
        assert any(f"loss/{m}" in r for m in mod.names())
    assert train_rows[-1]["mfu"] == pytest.approx(train_rows[-1]["tflops_per_device"] / 1.0)
    assert train_rows[-1]["loss"] < train_rows[0]["loss"] - 0.5  # it learns the synthetic structure
    evals = tu.rows(d, "eval")
    assert [r["step"] for r in evals] == [20, 40] and all(np.isfinite(r["eval/loss"]) for r in evals)
    assert list((d / "tensorboard").glob("events.out.tfevents.*"))
    assert tu.committed_steps(d) == [30, 35, 40]  # keep_checkpoints=3
    assert latest_step(d) == 40


def test_resume_after_kill_and_sigterm_matches_uninterrupted(reference, tmp_path):
    d = tmp_path / "run"
    args, env = ARGS + [f"run_dir={d}"], tu.env()
    # 1) SIGKILL right after the first checkpoint is committed (maybe while the next save is in flight).
    p = tu.start(args, env, tmp_path / "a.log")
    tu.wait_for(lambda: tu.committed_steps(d), p, what="the first checkpoint")
    p.kill()
    assert p.wait() == -signal.SIGKILL
    killed_at = max(tu.committed_steps(d))
    assert killed_at < STEPS
    # 2) The same command resumes; SIGTERM two steps later saves a checkpoint and exits 0.
    p = tu.start(args, env, tmp_path / "b.log")
    log_b = tmp_path / "b.log"
    # (rows the killed run logged past its checkpoint are moved aside when this one resumes)
    tu.wait_for(lambda: "resumed from" in log_b.read_text() and any(r["step"] >= killed_at + 2 for r in tu.rows(d)),
                p, what="two resumed steps")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 0, log_b.read_text()
    out = log_b.read_text()
    assert f"at step {killed_at}" in out and "SIGTERM: saved a checkpoint" in out
    stopped_at = max(tu.committed_steps(d))
    assert killed_at < stopped_at < STEPS
    # 3) ... and once more to the end.
    rc, out = tu.run(args, env, tmp_path / "c.log")
    assert rc == 0 and f"at step {stopped_at}" in out, out
    got, ref = tu.rows(d), tu.rows(reference)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    # Same program, same restored state and data order: equal to float32 precision.
    np.testing.assert_allclose([r["loss"] for r in got], [r["loss"] for r in ref], rtol=1e-6)
    np.testing.assert_allclose([r["eval/loss"] for r in tu.rows(d, "eval")],
                               [r["eval/loss"] for r in tu.rows(reference, "eval")], rtol=1e-6)


TIMING = {"time", "step_time_s", "tokens_per_s", "tflops_per_device", "mfu", "includes_compile"}


def _kill_when(pred, p, what) -> bool:
    """SIGKILL `p` as soon as `pred()` holds; False if the run finished first."""
    while not pred():
        if p.poll() is not None:
            assert p.returncode == 0, f"the run failed (rc {p.returncode}) before {what}"
            return False
        time.sleep(0.01)
    p.kill()
    assert p.wait() == -signal.SIGKILL
    return True


def test_kill_loop_keeps_every_row_once_and_params_bit_identical(reference, tmp_path):
    """SIGKILL at several moments (no checkpoint yet, an async save in flight, right after an eval step's
    checkpoint commits, a random step) and resume each time: metrics.jsonl ends up with each train/eval row
    exactly once, equal to the uninterrupted run's (timings aside), and the final parameters are bit-identical."""
    rng = random.Random(1515)
    d = tmp_path / "run"
    args, env = ARGS + [f"run_dir={d}"], tu.env()
    tmp_dirs = lambda: {q.name for q in (d / "checkpoints").glob("*.orbax-checkpoint-tmp*")}  # noqa: E731
    last_row = lambda: max([r["step"] for r in tu.rows(d)] or [0])  # noqa: E731
    first, later = rng.randint(1, EVERY - 2), rng.randint(22, STEPS - 3)
    # Each predicate gets the temporary save directories that existed at start (a save a kill interrupted
    # leaves one behind), so "a save in flight" means one this run started.
    plan = [(f"row {first}, before any checkpoint", lambda old: last_row() >= first and not tu.committed_steps(d)),
            ("an async save in flight", lambda old: bool(tmp_dirs() - old)),
            # checkpoint 20 is also an eval step: the eval row must not be lost when the kill follows the commit
            ("checkpoint 20 committed", lambda old: 20 in tu.committed_steps(d)),
            (f"row {later} written", lambda old: last_row() >= later)]
    kills = 0
    for i, (what, pred) in enumerate(plan):
        old = tmp_dirs()
        p = tu.start(args, env, tmp_path / f"kill{i}.log")
        if not _kill_when(lambda pred=pred, old=old: pred(old), p, what):
            break
        kills += 1
    assert kills >= 2, f"the run finished before the planned kills: {[w for w, _ in plan][:kills + 1]}"
    rc, out = tu.run(args, env, tmp_path / "final.log")
    assert rc == 0, out
    assert (d / "metrics.superseded.jsonl").exists()  # the killed runs' rows past their checkpoints, kept
    for kind in ("train", "eval"):
        got, ref = tu.rows(d, kind), tu.rows(reference, kind)
        assert [r["step"] for r in got] == [r["step"] for r in ref], (kind, [what for what, _ in plan])
        for g, r in zip(got, ref):
            assert {k: v for k, v in g.items() if k not in TIMING} == {k: v for k, v in r.items() if k not in TIMING}
    lines = (d / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(tu.rows(d)) + len(tu.rows(d, "eval"))  # no stray or broken lines
    got, _, step = load_params(d)
    ref, _, _ = load_params(reference)
    assert step == STEPS
    for name, value in ref.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_incompatible_checkpoint_names_the_fields(reference):
    before = (reference / "config.json").read_text()
    cfg = load_config("tiny", ARGS + [f"run_dir={reference}", "model.d_model=32", "model.n_layers=3"])
    with pytest.raises(ConfigError, match=r"model\.d_model \(checkpoint 64, now 32\).*model\.n_layers"):
        train(cfg, progress=False)
    assert (reference / "config.json").read_text() == before


def test_load_errors_name_what_exists(reference, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 7 .*available: \[30, 35, 40\]"):
        load_params(reference, step=7)
    with pytest.raises(FileNotFoundError, match="no checkpoints under"):
        load_model(tmp_path / "not_a_run")
    assert not (tmp_path / "not_a_run").exists()


def test_load_model_on_another_mesh_and_evaluate(reference):
    from omni.train.mesh import train_mesh
    single, cfg, step = load_params(reference)
    assert step == STEPS
    mesh = train_mesh(load_config("tiny", ["mesh.data=2", "mesh.fsdp=2", "mesh.tensor=2"]))
    model, cfg2, step2 = load_model(reference, mesh=mesh)
    assert cfg2 == cfg and step2 == STEPS
    wq = model.wq[...]
    assert len(wq.sharding.device_set) == 8 and wq.addressable_shards[0].data.shape != wq.shape
    for name, value in single.items():
        np.testing.assert_array_equal(jax.device_get(getattr(model, name)[...]), value, err_msg=name)
    # evaluate() on the restored model reproduces the run's own held-out loss at that step.
    one, _, _ = load_model(reference)
    res = evaluate(one, cfg, "validation", cfg.train.eval_batches)
    np.testing.assert_allclose(res["loss"], tu.rows(reference, "eval")[-1]["eval/loss"], rtol=1e-5)


def test_nonfinite_steps_stop_the_run_with_the_last_checkpoint_intact(tmp_path):
    d = tmp_path / "nan"
    # The learning rate is a runtime input of the step: this is the reference run's compiled program.
    args = ARGS + ["steps=20", "checkpoint_every=2", "train.eval_every=0", "train.learning_rate=1e30",
                   "train.warmup_steps=0", "train.max_nonfinite_in_a_row=3", f"run_dir={d}"]
    rc, out = tu.run(args, tu.env(), tmp_path / "nan.log")
    assert rc == 1, out
    assert "3 consecutive steps" in out and "is intact" in out
    rows = tu.rows(d)
    assert rows[-1]["step"] < 20 and rows[-1]["loss"] is None and rows[-1]["skipped_steps"] == 3
    params, _, step = load_params(d)
    assert step == max(tu.committed_steps(d))
    assert all(np.isfinite(v).all() for v in params.values())
    json.loads((d / "config.json").read_text())
