"""Orbax checkpoints of a run directory: params, optimizer state, step/RNG, data states, the config.

Layout: `<run_dir>/checkpoints/<step>/{params,opt_state,meta,data,config}` (+ `extra`: a task's
non-parameter model variables, e.g. a tokenizer's EMA codebooks). Saves are asynchronous
and the last `train.keep_checkpoints` are kept; a checkpoint appears only once fully written, so a run
killed mid-save still has its previous one. `load_model` restores params alone for export/sampling.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from omni.config import Config, ConfigError, from_dict, to_dict
from omni.train.data_state import DataStateRestore, DataStateSave
from omni.train.state import TrainState, abstract_params, param_specs

# Fields that change parameter shapes or what the weights mean; everything else may differ on resume.
COMPATIBLE_SECTIONS_EXCEPT = {
    "model": {"remat", "scan_layers", "dtype", "attention_impl", "grouped_matmul", "tile_size",
              "layout_chunks", "logits_chunk", "grouped_head", "head_tile_size", "max_seq_len", "z_loss",
              "init_std"},
    "vocab": set(),
}


def checkpoint_dir(run_dir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(run_dir).resolve() / "checkpoints"


def incompatible_fields(saved: Config, now: Config) -> list[str]:
    """`section.key (checkpoint X, now Y)` for each field whose change would break restoring the weights."""
    out = []
    for section, allowed in COMPATIBLE_SECTIONS_EXCEPT.items():
        a, b = getattr(saved, section), getattr(now, section)
        for f in dataclasses.fields(a):
            if f.name not in allowed and getattr(a, f.name) != getattr(b, f.name):
                out.append(f"{section}.{f.name} (checkpoint {getattr(a, f.name)!r}, now {getattr(b, f.name)!r})")
    return out


def check_compatible(saved: Config, now: Config, where: str):
    bad = incompatible_fields(saved, now)
    if bad:
        raise ConfigError(f"the checkpoint in {where} was made with an incompatible config: "
                          + "; ".join(bad) + ". Use a new run_dir or the checkpoint's values.")


class Checkpointer:
    """One run directory's checkpoints; every JAX process must call save/restore together."""

    def __init__(self, run_dir: str | pathlib.Path, *, keep: int = 3, async_save: bool = True):
        self.directory = checkpoint_dir(run_dir)
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                            enable_async_checkpointing=async_save)
        self.manager = ocp.CheckpointManager(self.directory, options=opts)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: TrainState, data_state: dict | None, meta: dict, cfg) -> bool:
        """Starts an (asynchronous) save of everything needed to resume at `step`."""
        rng = np.asarray(state.rng.addressable_data(0)).tolist()  # replicated: any local copy
        items = dict(
            params=ocp.args.StandardSave(state.params),
            opt_state=ocp.args.StandardSave(state.opt_state),
            meta=ocp.args.JsonSave(dict(meta, step=int(step), rng=rng, process_count=jax.process_count())),
            config=ocp.args.JsonSave(to_dict(cfg)),
            data=DataStateSave(data_state or {}),
        )
        if jax.tree.leaves(state.extra):
            items["extra"] = ocp.args.StandardSave(state.extra)
        return self.manager.save(step, args=ocp.args.Composite(**items), force=True)

    def raw_config(self, step: int) -> dict:
        """The config the checkpoint was written with, as saved (a dict; the MoT's or a tokenizer job's)."""
        return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]

    def config(self, step: int) -> Config:
        return from_dict(Config, self.raw_config(step))

    def restore(self, step: int, target: TrainState) -> tuple[TrainState, dict | None, dict]:
        """(state on the target's shardings, this process's data state or None, meta) of checkpoint `step`."""
        items = dict(params=ocp.args.StandardRestore(target.params),
                     opt_state=ocp.args.StandardRestore(target.opt_state),
                     meta=ocp.args.JsonRestore(), data=DataStateRestore())
        if jax.tree.leaves(target.extra):
            items["extra"] = ocp.args.StandardRestore(target.extra)
        got = self.manager.restore(step, args=ocp.args.Composite(**items))
        meta = got["meta"]
        rng = np.asarray(meta["rng"], np.uint32)
        rng = jax.make_array_from_callback(rng.shape, target.rng.sharding, lambda idx: rng[idx])
        step_arr = np.asarray(meta["step"], np.int32)
        step_arr = jax.make_array_from_callback((), target.step.sharding, lambda idx: step_arr[idx])
        data = got["data"] or None
        extra = got["extra"] if jax.tree.leaves(target.extra) else target.extra
        return TrainState(step_arr, got["params"], got["opt_state"], rng, extra), data, meta

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()


def _resolve_step(run_dir, step: int | None) -> tuple[Checkpointer, int]:
    if not checkpoint_dir(run_dir).is_dir():
        raise FileNotFoundError(f"no checkpoints under {checkpoint_dir(run_dir)} (is {run_dir} a training run dir?)")
    ck = Checkpointer(run_dir, async_save=False)
    steps = ck.all_steps()
    if step is None and steps:
        return ck, max(steps)
    if step is not None and step in steps:
        return ck, step
    ck.close()
    if not steps:
        raise FileNotFoundError(f"no checkpoints under {ck.directory}")
    raise FileNotFoundError(f"no checkpoint for step {step} under {ck.directory}; available: {sorted(steps)}")


def load_params(run_dir: str | pathlib.Path, step: int | None = None, *, mesh: Mesh | None = None,
                rules=None) -> tuple[dict[str, Any], Config, int]:
    """(params {name: array}, config, step) of the latest (or given) checkpoint, without optimizer state.

    With `mesh`, params are sharded by `rules` (default: the config's); otherwise on the default device.
    """
    ck, step = _resolve_step(run_dir, step)
    try:
        cfg = ck.config(step)
        _, abs_params = abstract_params(cfg)
        shapes = nnx.to_pure_dict(abs_params)
        if mesh is None:
            dev = SingleDeviceSharding(jax.devices()[0])
            shardings = jax.tree.map(lambda _: dev, shapes)
        else:
            if rules is not None:
                cfg_rules = dataclasses.replace(cfg, mesh=dataclasses.replace(cfg.mesh, rules=tuple(rules)))
            else:
                cfg_rules = cfg
            specs = param_specs(cfg_rules, mesh)
            shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                                     is_leaf=lambda x: isinstance(x, PartitionSpec))
        target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes, shardings)
        params = ck.manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(target)))["params"]
    finally:
        ck.close()
    return params, cfg, step


def load_model(run_dir: str | pathlib.Path, step: int | None = None, *, mesh: Mesh | None = None, rules=None):
    """(OmniModel with restored params, config, step) of the latest (or given) checkpoint of a run dir."""
    params, cfg, step = load_params(run_dir, step, mesh=mesh, rules=rules)
    graphdef, _ = abstract_params(cfg)
    return nnx.merge(graphdef, params), cfg, step


def latest_step(run_dir: str | pathlib.Path) -> int | None:
    """The newest complete checkpoint's step of a run dir (None if there is none)."""
    if not checkpoint_dir(run_dir).exists():
        return None
    ck = Checkpointer(run_dir, async_save=False)
    try:
        return ck.latest_step()
    finally:
        ck.close()
