"""The one training loop: mesh, sharded state, resume, data, jitted steps, metrics, evals, checkpoints.

`train(cfg)` trains the MoT; `run_task(task)` trains any `omni.train.task.Task` (the tokenizers). A run
goes until `task.steps` updates exist in its run dir, resuming from the latest checkpoint; SIGTERM saves
and returns early (`preempted=True`). Host work for step s (metrics, non-finite bookkeeping) happens after
step s+1 is dispatched, so the device never waits on Python.
"""
from __future__ import annotations

import json
import logging
import pathlib
import sys
import time

import jax
import numpy as np
from tqdm import tqdm

from omni.atomic import atomic_write_text
from omni.config import Config
from omni.data.pipeline import device_prefetch
from omni.train import metrics as metrics_lib
from omni.train.checkpoint import Checkpointer
from omni.train.distributed import is_main
from omni.train.mot_task import MoTTask
from omni.train.preemption import Preemption
from omni.train.step import fetch
from omni.train.task import Task

log = logging.getLogger(__name__)


class NonFiniteError(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient."""


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
        atomic_write_text(path, "".join(x + "\n" for x in keep))


def _say(msg: str):
    if is_main():
        tqdm.write(msg)
        sys.stdout.flush()  # log files see it now, not at exit


class _Run:
    """State of one run_task() call; methods are the loop's steps."""

    def __init__(self, task: Task, progress: bool, until: int | None = None):
        self.task = task
        self.mesh = task.make_mesh()
        self.run_dir = pathlib.Path(task.run_dir)
        self.main = is_main()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt = Checkpointer(self.run_dir, keep=task.train.keep_checkpoints,
                                 async_save=task.train.async_checkpoints)
        self.progress = progress
        self.stop_at = task.steps if until is None else min(int(until), task.steps)
        self.peak = metrics_lib.peak_tflops(override=task.train.peak_tflops)
        self.flops_per_item = 0.0
        self.streak = 0
        self.skipped = 0
        self.last = {}
        self.last_eval, self.last_eval_step = {}, None
        self.saved_step = None

    # ---- setup ----------------------------------------------------------------------------------
    def restore_or_init(self):
        task, latest = self.task, self.ckpt.latest_step()
        if latest is not None:
            task.check_resume(self.ckpt.raw_config(latest), str(self.ckpt.directory))
        if self.main:
            atomic_write_text(self.run_dir / "config.json", task.config_json() + "\n")
        data = task.data(task.seed)
        if latest is None:
            self.state = task.init_state()
            self.start = 0
        else:
            self.state, data_state, meta = self.ckpt.restore(latest, task.abstract_state())
            self.start = int(fetch(self.state.step))
            self.skipped = int(meta.get("skipped_steps", 0))
            self.saved_step = latest
            self.streak = int(meta.get("nonfinite_in_a_row", 0))
            data = self._restore_data(data, data_state, meta)
            _say(f"resumed from {self.ckpt.directory / str(latest)} at step {self.start}")
        if self.main:
            _supersede_metrics(self.run_dir, self.start)
        self.data = data
        self.feed = device_prefetch(data, task.batch_shardings(), max(task.prefetch, 1))

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
        seed = self.task.seed * 1_000_003 + self.start  # a fresh, deterministic order; no replay of old batches
        _say(f"warning: the data order cannot resume exactly ({why}); continuing with a fresh order (seed {seed})")
        return self.task.data(seed)

    def compile(self, batch, lr):
        """The step compiled for these inputs (its cost analysis gives FLOPs per item)."""
        compiled = self.task.make_step().lower(self.state, batch, lr).compile()
        self.flops_per_item = float(self.task.flops_per_item(compiled))
        return compiled

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
        limit = self.task.train.max_nonfinite_in_a_row
        if step % self.task.train.log_every == 0 or step == self.task.steps or self.streak >= limit:
            self.log(step, m, now)
        if self.streak >= limit:
            raise NonFiniteError(
                f"{self.streak} consecutive steps (through step {step}) had a non-finite loss or gradient "
                f"(train.max_nonfinite_in_a_row={limit}); stopping. Parameters were never updated with them; "
                f"the last checkpoint ({self.saved_step if self.saved_step is not None else 'none'}) is intact. "
                "Lower train.learning_rate or check the data.")

    def log(self, step: int, m, now: float):
        task, seconds = self.task, now - self.window_start
        rec = {"kind": "train", **task.train_record(m)}
        rec.update(grad_norm=float(m["grad_norm"]), learning_rate=float(m["learning_rate"]))
        if "param_norm" in m:
            rec["param_norm"] = float(m["param_norm"])
        rec.update(skipped_steps=self.skipped, step_time_s=seconds / max(self.window_steps, 1))
        rec.update(metrics_lib.throughput(self.window_steps * task.items_per_step, seconds, self.flops_per_item,
                                          jax.device_count(), self.peak, unit=task.item_unit))
        if self.window_includes_compile:
            rec["includes_compile"] = True
        rec.update(task.data_record(self.feed))
        self.writer.write(step, rec)
        self.last = rec
        rate = rec[f"{task.item_unit}_per_s"]
        self.pbar.set_postfix(loss=f"{rec['loss']:.4f}", **{f"{task.item_unit[:3]}_s": f"{rate:.0f}"})
        self.window_start, self.window_steps, self.window_includes_compile = time.perf_counter(), 0, False

    def save(self, step: int):
        """Checkpoint `step`; every metrics row of steps <= `step` is written before (see _loop)."""
        meta = {"skipped_steps": self.skipped, "nonfinite_in_a_row": self.streak, "time": time.time()}
        self.ckpt.save(step, self.state, self.feed.get_state(), meta, self.task.config)
        self.saved_step = step

    def eval(self, step: int):
        res = {k: float(v) for k, v in self.task.evaluate(self.state).items()}
        self.writer.write(step, {"kind": "eval", **{f"eval/{k}": v for k, v in res.items()}})
        self.last_eval, self.last_eval_step = res, step
        _say(f"step {step}: eval " + ", ".join(f"{k} {v:.4f}" for k, v in list(res.items())[:4]))
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
        task = self.task
        self.restore_or_init()
        # TensorBoard hides events at steps >= start + 1 that a killed run logged (this run logs them again).
        self.writer = metrics_lib.MetricsWriter(self.run_dir, enabled=self.main, purge_step=self.start + 1)
        _say(f"{task.summary()}; mesh {dict(self.mesh.shape)} on {jax.device_count()} "
             f"{jax.devices()[0].device_kind} device(s), {jax.process_count()} process(es); "
             f"peak {self.peak or 'unknown'} TFLOP/s per device")
        step_fn = None
        schedule = task.schedule()
        self.pbar = tqdm(total=task.steps, initial=self.start, unit="step", dynamic_ncols=True,
                         disable=not (self.main and self.progress))
        self.window_start, self.window_steps, self.window_includes_compile = time.perf_counter(), 0, True
        t0 = time.perf_counter()
        pending, preempted, step = None, False, self.start
        for step in range(self.start + 1, self.stop_at + 1):
            batch = next(self.feed)
            lr = np.asarray(schedule(step - 1), np.float32)
            if step_fn is None:
                step_fn = self.compile(batch, lr)
            self.state, m = step_fn(self.state, batch, lr)
            if pending is not None:
                self.host_step(*pending)
            pending = (step, m)
            save = step % task.checkpoint_every == 0 or step in (task.steps, self.stop_at)
            stop = preempt.requested(step)
            # Rows of steps <= `step` (train, then eval) are written before checkpoint `step` starts: a kill
            # after it commits loses none, and one before it makes the resumed run write them again (after
            # moving the killed run's copies aside), so metrics.jsonl holds each row exactly once.
            if save or stop or (task.train.eval_every and step % task.train.eval_every == 0):
                self.host_step(*pending)
                pending = None
            if task.train.eval_every and step % task.train.eval_every == 0:
                self.eval(step)
            if save or (stop and self.saved_step != step):
                self.save(step)
            if stop:
                preempted = True
                _say(f"SIGTERM: saved a checkpoint at step {step}; stopping")
                break
        if pending is not None:
            self.host_step(*pending)
        result = {"run_dir": str(self.run_dir), "start_step": self.start, "step": max(step, self.start),
                  "preempted": preempted, "skipped_steps": self.skipped, "checkpoint_step": self.saved_step,
                  "last": self.last, "eval": self.last_eval, "eval_step": self.last_eval_step,
                  "seconds": time.perf_counter() - t0}
        if not preempted and result["step"] >= task.steps:
            self.ckpt.wait()
            result = task.finish(self.state, result)
        return result


def run_task(task: Task, *, progress: bool = True, until: int | None = None) -> dict:
    """Trains (or resumes) `task` in task.run_dir; `until` stops (checkpointed) at that step, as a
    preemption would. Returns a summary dict (run_dir, start_step, step, preempted, last, eval, ...)."""
    return _Run(task, progress, until).run()


def train(cfg: Config, *, progress: bool = True) -> dict:
    """Trains (or resumes) the MoT of `cfg` in cfg.run_dir; returns a summary dict (see run_task)."""
    return run_task(MoTTask(cfg.validate()), progress=progress)
