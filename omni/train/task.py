"""What the one training loop trains: a task = model(s) + loss + batch stream + eval.

`omni.train.loop.train(task)` owns the mesh, jit with shardings and donation, orbax checkpoints with the
data-iterator state, preemption, non-finite skipping and metrics; a task answers the questions below.
`MoTTask` (omni/train/mot_task.py) trains the MoT from a `Config`; `ModuleTask`
(omni/train/module_task.py) trains any Flax NNX module(s) with their own optimizers (the tokenizers).
"""
from __future__ import annotations

import pathlib
from typing import Any

import optax
from jax.sharding import Mesh

from omni.train.state import TrainState


class Task:
    """The interface the loop calls; subclasses set the attributes and implement the methods."""

    name: str                 # shown in logs
    config: Any               # a dataclass saved with every checkpoint and as run_dir/config.json
    run_dir: pathlib.Path
    steps: int                # train until this many updates exist
    checkpoint_every: int
    seed: int
    train: Any                # a `TrainConfig` (log_every, eval_every, keep_checkpoints, ...)
    items_per_step: int       # global tokens (MoT) or examples (tokenizers) per step
    item_unit: str            # "tokens" | "examples": names the throughput metric `<unit>_per_s`
    prefetch: int = 2         # batches kept ahead on device
    mesh: Mesh

    def make_mesh(self) -> Mesh:
        """Builds (and keeps in self.mesh) the device mesh; validates the batch layout on it."""
        raise NotImplementedError

    def check_resume(self, saved_config: dict, where: str) -> None:
        """Raises a ConfigError when a checkpoint written with `saved_config` cannot be resumed."""

    def config_json(self) -> str:
        raise NotImplementedError

    def schedule(self) -> optax.Schedule:
        raise NotImplementedError

    def init_state(self) -> TrainState:
        """A fresh train state, created sharded on self.mesh."""
        raise NotImplementedError

    def abstract_state(self) -> TrainState:
        """ShapeDtypeStructs with the state's shardings (the restore target)."""
        raise NotImplementedError

    def batch_shardings(self):
        raise NotImplementedError

    def data(self, seed: int):
        """This process's batch iterator (numpy dicts of local rows) with get_state/set_state/close."""
        raise NotImplementedError

    def make_step(self):
        """jit(state, batch, lr) -> (state, metrics); metrics hold replicated scalars incl. `loss`,
        `grad_norm`, `finite`, `learning_rate`."""
        raise NotImplementedError

    def flops_per_item(self, compiled) -> float:
        """Training FLOPs per item (the loop passes the compiled step; tasks may read its cost analysis)."""
        return compiled_flops(compiled, self.mesh.size) / max(self.items_per_step, 1)

    def train_record(self, m: dict) -> dict:
        """The loss terms of one step's fetched metrics for metrics.jsonl."""
        return {"loss": float(m["loss"])}

    def data_record(self, feed) -> dict:
        """Data-pipeline figures for a train row (e.g. the padding fraction)."""
        return {}

    def evaluate(self, state: TrainState) -> dict[str, float]:
        """Held-out metrics of `state` (called on every process)."""
        return {}

    def summary(self) -> str:
        return self.name

    def finish(self, state: TrainState, result: dict) -> dict:
        """Called after the last step of a run that was not preempted; returns the (extended) result."""
        return result


def compiled_flops(compiled, num_devices: int) -> float:
    """FLOPs of one execution of a compiled program from XLA's cost analysis, over all `num_devices`
    (the analysis of an SPMD program counts one device's share); 0 when the backend has no cost model."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - some backends have no cost model
        return 0.0
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return max(float((cost or {}).get("flops", 0.0)), 0.0) * num_devices
