"""Any Flax NNX model(s) as a task of the one training loop (how the tokenizers train).

A `Part` is one model with its own loss and optimizer: a tokenizer has one ("model"); adversarial codec
training has a discriminator and a generator, updated in the order given within one step, each on its
own loss (a part sees the parts before it already updated). Parameters are data-parallel (replicated) and,
when the mesh has an `fsdp` axis, large weights are sharded over it; the batch is split over the mesh
axes of the `batch` rule. Non-parameter variables the forward pass updates (EMA codebooks) live in
`TrainState.extra` and are checkpointed with the rest. The job config must have `train: LoopConfig` and
`mesh: MeshConfig` sections and a `model` section (what the weights mean: checked on resume).

`abstract_program(task, per_device_batch)` gives the jittable step and abstract, sharded inputs, so
the step can be lowered ahead of time for another topology (launch/plan.py) without data or weights.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from omni import sharding
from omni.config import ConfigError, to_dict
from omni.train.mesh import batch_shards, train_mesh
from omni.train.optimizer import learning_rate_schedule, make_optimizer
from omni.train.state import TrainState, state_shardings
from omni.train.step import all_finite, apply_if_finite
from omni.train.task import Task

# Parameters with at least this many elements are sharded over the mesh's `fsdp` axis (when it has one).
FSDP_MIN_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class Part:
    """init() builds the module (runs traced inside jit); loss(models, batch, key) -> (loss, {name: scalar})
    where `models` maps every part's name to its module."""

    init: Callable[[], nnx.Module]
    loss: Callable[[dict, Any, jax.Array], tuple[jax.Array, dict]]


def split_module(module: nnx.Module):
    """(graphdef, params pure dict, other variables pure dict)."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def fsdp_spec(shape, mesh) -> PartitionSpec:
    """Shard the last axis divisible by the fsdp size of a large weight over `fsdp`; replicate the rest."""
    n = mesh.shape.get("fsdp", 1)
    if n <= 1 or math.prod(shape) < FSDP_MIN_SIZE:
        return PartitionSpec()
    for ax in reversed(range(len(shape))):
        if shape[ax] % n == 0:
            return PartitionSpec(*([None] * ax + ["fsdp"]))
    return PartitionSpec()


def gather(tree):
    """Host numpy copies of (possibly cross-process sharded) arrays; call on every process together."""
    def one(x):
        if not isinstance(x, jax.Array):
            return np.asarray(x)
        if x.is_fully_addressable or x.sharding.is_fully_replicated:
            return np.asarray(x.addressable_data(0)) if not x.is_fully_addressable else np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return jax.tree.map(one, tree)


class ModuleTask(Task):
    """`parts` trained on `data(seed, process_index, process_count)` batches (dicts of arrays [B_local, ...]);
    `evaluate(models)` and `finish(models, result)` run on host copies of the trained modules."""

    item_unit = "examples"

    def __init__(self, name: str, job, run_dir, parts: dict[str, Part], data: Callable[[int, int, int], Any],
                 evaluate: Callable[[dict], dict] | None = None,
                 finish: Callable[[dict, dict], dict] | None = None):
        self.name, self.job, self.config = name, job, job
        self.run_dir = pathlib.Path(run_dir)
        self.train = job.train
        self.steps, self.checkpoint_every, self.seed = job.train.steps, job.train.checkpoint_every, job.train.seed
        self.items_per_step = job.train.batch_size
        self.parts, self._data, self._evaluate, self._finish = dict(parts), data, evaluate, finish
        self.txs = {n: make_optimizer(job.train) for n in self.parts}
        self.graphdefs = {}
        for n, p in self.parts.items():
            self.graphdefs[n] = split_module(nnx.eval_shape(p.init))[0]

    # ---- layout ---------------------------------------------------------------------------------
    def make_mesh(self):
        if self.job.train.grad_accum != 1:
            raise ConfigError(f"train.grad_accum must be 1 for {self.name} (got {self.job.train.grad_accum})")
        self.mesh = train_mesh(self.job)
        shards = batch_shards(self.job, self.mesh)
        B = self.job.train.batch_size
        if B % shards or B % jax.process_count():
            raise ConfigError(f"train.batch_size ({B}) must be a multiple of the mesh's batch shards ({shards}) "
                              f"and of the process count ({jax.process_count()})")
        return self.mesh

    def _init(self) -> TrainState:
        params, opt, extra = {}, {}, {}
        for n, p in self.parts.items():
            _, params[n], extra[n] = split_module(p.init())
            opt[n] = self.txs[n].init(params[n])
        rng = jax.random.key_data(jax.random.fold_in(jax.random.key(self.seed), 1))
        return TrainState(jnp.zeros((), jnp.int32), params, opt, rng, extra)

    def state_shardings(self) -> TrainState:
        """The train state's NamedShardings: each part's params FSDP-sharded (`fsdp_spec`)."""
        shapes = jax.eval_shape(self._init)
        pspecs = jax.tree.map(lambda a: fsdp_spec(a.shape, self.mesh), shapes.params)
        return state_shardings(self.mesh, shapes, pspecs, self.txs)

    def init_state(self) -> TrainState:
        return jax.jit(self._init, out_shardings=self.state_shardings())()

    def abstract_state(self) -> TrainState:
        return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                            jax.eval_shape(self._init), self.state_shardings())

    def batch_shardings(self) -> NamedSharding:
        spec = sharding.batch_sharding(self.mesh, self.job.mesh.rules).spec[0]
        return NamedSharding(self.mesh, PartitionSpec(spec))

    # ---- the step -------------------------------------------------------------------------------
    def make_step(self):
        names = list(self.parts)

        def step(state: TrainState, batch, lr):
            params, opt, extra = dict(state.params), dict(state.opt_state), dict(state.extra)
            keys = jax.random.split(jax.random.wrap_key_data(state.rng), len(names) + 1)
            metrics, finite_all, total = {}, jnp.array(True), 0.0
            for i, name in enumerate(names):
                def f(own, name=name, key=keys[i + 1]):
                    models = {n: nnx.merge(self.graphdefs[n], own if n == name else params[n], extra[n])
                              for n in names}
                    loss, aux = self.parts[name].loss(models, batch, key)
                    return loss, (aux, split_module(models[name])[2])

                (loss, (aux, new_extra)), grads = jax.value_and_grad(f, has_aux=True)(params[name])
                gnorm = optax.tree.norm(grads)
                finite = jnp.isfinite(loss) & jnp.isfinite(gnorm)
                params[name], opt[name], finite = apply_if_finite(self.txs[name], grads, opt[name], params[name], lr,
                                                                  finite & all_finite(new_extra))
                extra[name] = jax.tree.map(lambda a, b, ok=finite: jnp.where(ok, a, b), new_extra, extra[name])
                prefix = "" if len(names) == 1 else f"{name}/"
                metrics.update({f"{prefix}{k}": v for k, v in aux.items()})
                metrics[f"{prefix}grad_norm" if prefix else "grad_norm"] = gnorm
                if prefix:
                    metrics[f"{prefix}loss"] = loss
                finite_all, total = finite_all & finite, total + loss
            if len(names) > 1:
                metrics["grad_norm"] = optax.tree.norm([metrics[f"{n}/grad_norm"] for n in names])
            metrics.update(loss=total, finite=finite_all, learning_rate=lr, param_norm=optax.tree.norm(params))
            rng = jax.random.key_data(keys[0])
            return TrainState(state.step + 1, params, opt, rng, extra), metrics

        shardings = self.state_shardings()
        rep = NamedSharding(self.mesh, PartitionSpec())
        return jax.jit(step, in_shardings=(shardings, self.batch_shardings(), rep), out_shardings=(shardings, rep),
                       donate_argnums=0)

    def schedule(self):
        return learning_rate_schedule(self.job.train)

    # ---- data, records, eval --------------------------------------------------------------------
    def data(self, seed: int):
        return self._data(seed, jax.process_index(), jax.process_count())

    def train_record(self, m) -> dict:
        skip = {"finite", "learning_rate", "param_norm", "grad_norm"}
        return {k: float(v) for k, v in m.items() if k not in skip}

    def check_resume(self, saved_config: dict, where: str):
        now = to_dict(self.job)
        if saved_config.get("model") != now.get("model"):
            raise ConfigError(f"the checkpoint in {where} was made for another model: its `model` section "
                              f"{saved_config.get('model')} differs from {now.get('model')}. Use a new output "
                              "folder or the checkpoint's settings.")

    def config_json(self) -> str:
        return json.dumps(to_dict(self.job), indent=2, sort_keys=True)

    def host_models(self, state: TrainState) -> dict[str, nnx.Module]:
        params, extra = gather(state.params), gather(state.extra)
        return {n: nnx.merge(self.graphdefs[n], params[n], extra[n]) for n in self.parts}

    def evaluate(self, state) -> dict[str, float]:
        return self._evaluate(self.host_models(state)) if self._evaluate else {}

    def finish(self, state, result: dict) -> dict:
        return self._finish(self.host_models(state), result) if self._finish else result

    def summary(self) -> str:
        n = sum(int(np.prod(a.shape)) for g in self.parts.values()
                for a in jax.tree.leaves(split_module(nnx.eval_shape(g.init))[1]))
        return f"{self.name}: {n / 1e6:.2f}M parameters, batch {self.job.train.batch_size}"


def abstract_program(task: ModuleTask, per_device_batch: dict[str, tuple[tuple[int, ...], Any]]):
    """(jitted step, abstract state, abstract batch, abstract lr) for AOT lowering on task.mesh:
    `per_device_batch` maps each batch key to (item shape without batch axis ... with the per-device batch
    as its first axis, dtype); the global batch is that times the batch shards. Lower with
    `step.lower(state, batch, lr)`; nothing is allocated."""
    if not hasattr(task, "mesh"):
        task.make_mesh()
    shards = batch_shards(task.job, task.mesh)
    bs = task.batch_shardings()
    batch = {k: jax.ShapeDtypeStruct((shape[0] * shards,) + tuple(shape[1:]), dtype, sharding=bs)
             for k, (shape, dtype) in per_device_batch.items()}
    lr = jax.ShapeDtypeStruct((), jnp.float32, sharding=NamedSharding(task.mesh, PartitionSpec()))
    return task.make_step(), task.abstract_state(), batch, lr
