"""Modality-agnostic tokenizer training: jitted AdamW steps, progress bar, held-out evals, orbax resume.

`fit(model, loss_fn, data, cfg, workdir, eval_fn)` trains any NNX module. `data` is either a function
`step -> batch` (resume is then exact: batch s is the same after a restart) or an iterator.
`loss_fn(model, batch) -> (loss, {name: scalar})`. Models must not hold nnx.Rngs (state is saved
with orbax as a pure dict). Metrics go to `workdir/metrics.jsonl`.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from tqdm.auto import tqdm


@dataclasses.dataclass
class TrainLoopConfig:
    """Optimizer and bookkeeping for one tokenizer fit."""

    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    log_every: int = 10
    eval_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    seed: int = 0

    def validate(self):
        for k in ("steps", "batch_size", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, k) <= 0:
                raise ValueError(f"train.{k} must be > 0, got {getattr(self, k)}")
        if self.learning_rate <= 0:
            raise ValueError(f"train.learning_rate must be > 0, got {self.learning_rate}")
        for k in ("warmup_steps", "weight_decay", "seed"):
            if getattr(self, k) < 0:
                raise ValueError(f"train.{k} must be >= 0, got {getattr(self, k)}")
        if self.grad_clip <= 0:
            raise ValueError(f"train.grad_clip must be > 0 (the global-norm clip), got {self.grad_clip}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


def make_optimizer(cfg: TrainLoopConfig) -> optax.GradientTransformation:
    """AdamW with linear warmup + cosine decay, global-norm clipping, non-finite updates skipped."""
    warm = max(1, min(cfg.warmup_steps, cfg.steps - 1))
    sched = optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, warm, max(cfg.steps, warm + 1),
                                               cfg.learning_rate * cfg.min_lr_ratio)
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                     optax.adamw(sched, b1=0.9, b2=0.99, weight_decay=cfg.weight_decay))
    return optax.apply_if_finite(tx, max_consecutive_errors=10)


def _manager(workdir: pathlib.Path, cfg: TrainLoopConfig) -> ocp.CheckpointManager:
    opts = ocp.CheckpointManagerOptions(max_to_keep=cfg.keep_checkpoints, create=True,
                                        enable_async_checkpointing=False)
    return ocp.CheckpointManager((workdir / "checkpoints").resolve(), options=opts)


def _log(workdir: pathlib.Path | None, record: dict) -> None:
    if workdir is not None:
        with open(workdir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


def _check_job(workdir: pathlib.Path, job: dict, resuming: bool) -> None:
    path = workdir / "job.json"
    text = json.dumps(job, sort_keys=True, default=str)
    if resuming:
        old = path.read_text() if path.is_file() else None
        if old is not None and json.loads(old) != json.loads(text):
            raise ValueError(f"{workdir} holds checkpoints of a different run (see {path}); "
                             f"resume with the same config or choose another output folder")
    path.write_text(text)


def fit(model: nnx.Module, loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]],
        data: Callable[[int], Any] | Iterator, cfg: TrainLoopConfig,
        workdir: str | pathlib.Path | None = None,
        eval_fn: Callable[[Any], dict[str, float]] | None = None,
        progress: bool = True, desc: str = "train", until: int | None = None,
        job: dict | None = None) -> dict[str, Any]:
    """Trains `model` in place for cfg.steps (resuming from workdir's latest checkpoint).

    `until` stops early at that step (checkpointed), as a preemption would; a later call resumes.
    `job` (a JSON-able description of the whole run, default the loop config) is written to
    workdir/job.json; resuming checkpoints written for a different job raises ValueError.

    Returns {"step", "train": last logged train metrics, "eval": last held-out metrics, "seconds"}.
    """
    cfg.validate()
    workdir = pathlib.Path(workdir) if workdir is not None else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    opt = nnx.Optimizer(model, make_optimizer(cfg), wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))

    mngr = _manager(workdir, cfg) if workdir is not None else None
    if workdir is not None:
        _check_job(workdir, job if job is not None else dataclasses.asdict(cfg), mngr.latest_step() is not None)
    start = 0
    if mngr is not None and mngr.latest_step() is not None:
        start = int(mngr.latest_step())
        target = jax.tree.map(np.asarray, nnx.to_pure_dict(state))
        restored = mngr.restore(start, args=ocp.args.StandardRestore(target))
        nnx.replace_by_pure_dict(state, restored)

    def _step(state, batch):
        m, o = nnx.merge(graphdef, state)
        (loss, parts), grads = nnx.value_and_grad(loss_fn, has_aux=True)(m, batch)
        o.update(m, grads)
        gnorm = optax.tree.norm(grads)
        return nnx.state((m, o)), dict(parts, loss=loss, grad_norm=gnorm)

    step_fn = jax.jit(_step)

    def get_batch(s: int):
        return data(s) if callable(data) else next(data)

    def sync_model():
        nnx.update((model, opt), state)

    last_train: dict[str, float] = {}
    last_eval: dict[str, float] = {}
    t0 = time.time()
    acc: dict[str, list] = {}
    stop = cfg.steps if until is None else min(int(until), cfg.steps)
    bar = tqdm(range(start, stop), initial=start, total=cfg.steps, desc=desc, disable=not progress,
               dynamic_ncols=True)
    for s in bar:
        state, metrics = step_fn(state, get_batch(s))
        for k, v in metrics.items():
            acc.setdefault(k, []).append(v)
        step = s + 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            last_train = {k: float(jnp.mean(jnp.stack(v))) for k, v in acc.items()}
            acc = {}
            if not np.isfinite(last_train["loss"]):
                raise FloatingPointError(f"{desc}: loss is {last_train['loss']} at step {step}")
            bar.set_postfix({k: f"{v:.4g}" for k, v in last_train.items() if k in ("loss", "psnr")})
            _log(workdir, {"step": step, "split": "train", **last_train, "time": time.time() - t0})
        if eval_fn is not None and (step % cfg.eval_every == 0 or step == cfg.steps):
            sync_model()
            last_eval = {k: float(v) for k, v in eval_fn(model).items()}
            bar.write(f"[{desc}] step {step} held-out: "
                      + ", ".join(f"{k}={v:.4g}" for k, v in last_eval.items()))
            _log(workdir, {"step": step, "split": "eval", **last_eval})
        if mngr is not None and (step % cfg.checkpoint_every == 0 or step in (cfg.steps, stop)):
            mngr.save(step, args=ocp.args.StandardSave(nnx.to_pure_dict(state)))
    bar.close()
    if mngr is not None:
        mngr.wait_until_finished()
        mngr.close()
    sync_model()
    return {"step": max(stop, start), "train": last_train, "eval": last_eval, "seconds": time.time() - t0}
