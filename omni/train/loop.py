"""The training loop: mesh, sharded state, resume, data, jitted steps, metrics, evals, checkpoints.

`train(cfg)` runs until `cfg.steps` updates exist in `cfg.run_dir`, resuming from its latest
checkpoint; SIGTERM saves and returns early (`preempted=True`). Host work for step s (metrics,
non-finite bookkeeping) happens after step s+1 is dispatched, so the device never waits on Python.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import sys
import time

import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from omni import modality as mod
from omni.config import Config, config_to_json
from omni.data.pipeline import device_prefetch, make_iterator
from omni.model import model_stats
from omni.train import metrics as metrics_lib
from omni.train.checkpoint import Checkpointer, check_compatible
from omni.train.distributed import is_main
from omni.train.evaluate import evaluate
from omni.train.optimizer import learning_rate_schedule, make_optimizer
from omni.train.preemption import Preemption
from omni.train.state import abstract_params, abstract_train_state, create_train_state, state_shardings
from omni.train.step import batch_shardings, fetch, make_train_step, plan_run

log = logging.getLogger(__name__)


class NonFiniteError(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient."""


def _write_atomic(path: pathlib.Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _supersede_metrics(run_dir: pathlib.Path, step: int):
    """On (re)start from `step` (0: no checkpoint), rows of later steps, which this run writes again, and a
    line cut short by a kill move to metrics.superseded.jsonl (kept, not lost)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    keep, gone = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                later = json.loads(line).get("step", 0) > step
            except json.JSONDecodeError:
                later = True
            (gone if later else keep).append(line)
    if gone:
        with open(run_dir / "metrics.superseded.jsonl", "a", encoding="utf-8") as f:
            f.write("\n".join(gone) + "\n")
        _write_atomic(path, "".join(x + "\n" for x in keep))


def _say(msg: str):
    if is_main():
        tqdm.write(msg)
        sys.stdout.flush()  # log files see it now, not at exit


class _Run:
    """State of one train() call; methods are the loop's steps."""

    def __init__(self, cfg: Config, progress: bool):
        self.cfg = cfg
        # self.rcfg: the config as laid out on this mesh; a bad mesh, batch or data source stops here, before any file
        self.mesh, self.rcfg = plan_run(cfg, ("train", "validation") if cfg.train.eval_every else ("train",))
        self.run_dir = pathlib.Path(cfg.run_dir)
        self.main = is_main()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt = Checkpointer(self.run_dir, keep=cfg.train.keep_checkpoints,
                                 async_save=cfg.train.async_checkpoints)
        self.tx = make_optimizer(self.rcfg)
        self.progress = progress
        self.stats = model_stats(cfg, cfg.train.seq_len)
        self.peak = metrics_lib.peak_tflops(override=cfg.train.peak_tflops)
        self.tokens_per_step = cfg.train.batch_size * cfg.train.seq_len
        self.streak = 0
        self.skipped = 0
        self.last = {}
        self.saved_step = None

    # ---- setup ----------------------------------------------------------------------------------
    def restore_or_init(self):
        cfg, latest = self.cfg, self.ckpt.latest_step()
        if latest is not None:
            check_compatible(self.ckpt.config(latest), cfg, str(self.ckpt.directory))
        if self.main:
            _write_atomic(self.run_dir / "config.json", config_to_json(cfg) + "\n")
        self.graphdef, _ = abstract_params(self.rcfg)
        data = make_iterator(cfg, "train", seed=cfg.seed)
        if latest is None:
            self.graphdef, self.state = create_train_state(self.rcfg, self.mesh, self.tx)
            self.start = 0
        else:
            target = abstract_train_state(self.rcfg, self.mesh, self.tx)
            self.state, data_state, meta = self.ckpt.restore(latest, target)
            self.start = int(fetch(self.state.step))
            self.skipped = int(meta.get("skipped_steps", 0))
            self.saved_step = latest
            self.streak = int(meta.get("nonfinite_in_a_row", 0))
            data = self._restore_data(data, data_state, meta)
            _say(f"resumed from {self.ckpt.directory / str(latest)} at step {self.start}")
        if self.main:
            _supersede_metrics(self.run_dir, self.start)
        self.data = data
        self.feed = device_prefetch(data, batch_shardings(self.rcfg, self.mesh), max(cfg.data.prefetch, 1))

    def _restore_data(self, data, data_state, meta):
        if data_state:
            try:
                data.set_state(data_state)
                return data
            except ValueError as e:
                why = str(e)
        else:
            why = (f"the checkpoint was written by {meta.get('process_count')} processes, this run has "
                   f"{jax.process_count()}")
        data.close()
        seed = self.cfg.seed * 1_000_003 + self.start  # a fresh, deterministic order; no replay of old batches
        _say(f"warning: the data order cannot resume exactly ({why}); continuing with a fresh order (seed {seed})")
        return make_iterator(self.cfg, "train", seed=seed)

    # ---- per step -------------------------------------------------------------------------------
    def host_step(self, step: int, m):
        """Bookkeeping for finished step `step` (1-based count of updates): non-finite streak, logging."""
        m = fetch(m)  # waits for step `step` to finish
        now = time.perf_counter()
        finite = bool(m["finite"])
        self.streak = 0 if finite else self.streak + 1
        self.skipped += 0 if finite else 1
        if not finite:
            _say(f"step {step}: non-finite loss/gradient (loss={float(m['loss'])}, "
                 f"grad_norm={float(m['grad_norm'])}); update skipped ({self.streak} in a row)")
        self.window_steps += 1
        self.pbar.update(1)
        limit = self.cfg.train.max_nonfinite_in_a_row
        if step % self.cfg.train.log_every == 0 or step == self.cfg.steps or self.streak >= limit:
            self.log(step, m, now)
        if self.streak >= limit:
            raise NonFiniteError(
                f"{self.streak} consecutive steps (through step {step}) had a non-finite loss or gradient "
                f"(train.max_nonfinite_in_a_row={limit}); stopping. Parameters were never updated with them; "
                f"the last checkpoint ({self.saved_step if self.saved_step is not None else 'none'}) is intact. "
                "Lower train.learning_rate or check the data.")

    def log(self, step: int, m, now: float):
        seconds = now - self.window_start
        rec = {"kind": "train", "loss": float(m["loss"]), "nll": float(m["nll"]), "z_loss": float(m["z_loss"])}
        for name in mod.names():
            if float(m[f"tokens/{name}"]) > 0:
                rec[f"loss/{name}"] = float(m[f"loss/{name}"])
        rec.update(grad_norm=float(m["grad_norm"]), learning_rate=float(m["learning_rate"]),
                   param_norm=float(m["param_norm"]), loss_tokens=float(m["tokens"]),
                   skipped_steps=self.skipped, step_time_s=seconds / max(self.window_steps, 1))
        rec.update(metrics_lib.throughput(self.window_steps * self.tokens_per_step, seconds,
                                          self.stats.train_flops_per_token, jax.device_count(), self.peak))
        if self.window_includes_compile:
            rec["includes_compile"] = True
        rec["padding_fraction"] = float(self.feed.stats().get("padding_fraction", 0.0))
        self.writer.write(step, rec)
        self.last = rec
        self.pbar.set_postfix(loss=f"{rec['loss']:.4f}", tok_s=f"{rec['tokens_per_s']:.0f}")
        self.window_start, self.window_steps, self.window_includes_compile = time.perf_counter(), 0, False

    def save(self, step: int):
        """Checkpoint `step`; every metrics row of steps <= `step` is written before (see _loop)."""
        meta = {"skipped_steps": self.skipped, "nonfinite_in_a_row": self.streak, "time": time.time()}
        self.ckpt.save(step, self.state, self.feed.get_state(), meta, self.cfg)
        self.saved_step = step

    def eval(self, step: int):
        res = evaluate(nnx.merge(self.graphdef, self.state.params), self.rcfg, "validation",
                       self.cfg.train.eval_batches)
        rec = {"kind": "eval", **{f"eval/{k}": v for k, v in res.items() if not k.startswith("tokens/")}}
        self.writer.write(step, rec)
        _say(f"step {step}: eval loss {res['loss']:.4f}")
        self.window_start, self.window_steps = time.perf_counter(), 0

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> dict:
        preempt = Preemption()  # installed first: a SIGTERM during setup/compilation stops after one step
        try:
            return self._loop(preempt)
        finally:
            preempt.close()
            self.ckpt.close()  # waits for in-flight saves
            for name in ("feed", "pbar", "writer"):
                if hasattr(self, name):
                    getattr(self, name).close()

    def _loop(self, preempt: Preemption) -> dict:
        cfg = self.cfg
        self.restore_or_init()
        # TensorBoard hides events at steps >= start + 1 that a killed run logged (this run logs them again).
        self.writer = metrics_lib.MetricsWriter(self.run_dir, enabled=self.main, purge_step=self.start + 1)
        _say(f"{cfg.name}: {self.stats.summary()}; mesh {dict(self.mesh.shape)} on {jax.device_count()} "
             f"{jax.devices()[0].device_kind} device(s), {jax.process_count()} process(es); "
             f"peak {self.peak or 'unknown'} TFLOP/s per device")
        step_fn = make_train_step(self.rcfg, self.graphdef, self.tx, self.mesh,
                                  state_shardings(self.rcfg, self.mesh, self.tx))
        schedule = learning_rate_schedule(cfg)
        self.pbar = tqdm(total=cfg.steps, initial=self.start, unit="step", dynamic_ncols=True,
                         disable=not (self.main and self.progress))
        self.window_start, self.window_steps, self.window_includes_compile = time.perf_counter(), 0, True
        pending, preempted, step = None, False, self.start
        for step in range(self.start + 1, cfg.steps + 1):
            batch = next(self.feed)
            lr = np.asarray(schedule(step - 1), np.float32)
            self.state, m = step_fn(self.state, batch, lr)
            if pending is not None:
                self.host_step(*pending)
            pending = (step, m)
            save = step % cfg.checkpoint_every == 0 or step == cfg.steps
            stop = preempt.requested(step)
            # Rows of steps <= `step` (train, then eval) are written before checkpoint `step` starts: a kill
            # after it commits loses none, and one before it makes the resumed run write them again (after
            # moving the killed run's copies aside), so metrics.jsonl holds each row exactly once.
            if save or stop or (cfg.train.eval_every and step % cfg.train.eval_every == 0):
                self.host_step(*pending)
                pending = None
            if cfg.train.eval_every and step % cfg.train.eval_every == 0:
                self.eval(step)
            if save or (stop and self.saved_step != step):
                self.save(step)
            if stop:
                preempted = True
                _say(f"SIGTERM: saved a checkpoint at step {step}; stopping")
                break
        if pending is not None:
            self.host_step(*pending)
        return {"run_dir": str(self.run_dir), "start_step": self.start, "step": max(step, self.start),
                "preempted": preempted, "skipped_steps": self.skipped, "checkpoint_step": self.saved_step,
                "last": self.last}


def train(cfg: Config, *, progress: bool = True) -> dict:
    """Trains (or resumes) `cfg` in cfg.run_dir; returns a summary dict (see _Run.run)."""
    return _Run(cfg.validate(), progress).run()
