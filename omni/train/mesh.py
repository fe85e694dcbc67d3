"""The device mesh of a run and the config and batch laid out on it.

`plan_run` is what a run checks before it creates any file (the mesh fits the devices, the batch splits
over it, the data sources open); `resolve_for_mesh` is the config as trained on the mesh; the batch
helpers say how [B, L] batch arrays are split over it.
"""
from __future__ import annotations

import dataclasses
import math

import jax
from jax.sharding import Mesh

from omni import sharding
from omni.config import Config, ConfigError
from omni.data.packing import BATCH_KEYS
from omni.data.pipeline import check_sources


def batch_shardings(cfg: Config, mesh: Mesh) -> dict:
    bs = sharding.batch_sharding(mesh, cfg.mesh.rules)
    return {k: bs for k in BATCH_KEYS}


def batch_shards(cfg: Config, mesh: Mesh) -> int:
    """How many ways the batch dimension is split over the mesh (product of its mesh axes)."""
    spec = sharding.batch_sharding(mesh, cfg.mesh.rules).spec[0]
    axes = () if spec is None else (spec,) if isinstance(spec, str) else tuple(spec)
    return math.prod(mesh.shape[a] for a in axes)


def train_mesh(cfg: Config) -> Mesh:
    """The device mesh of cfg.mesh over all devices (or the first mesh.devices of them)."""
    n = cfg.mesh.devices
    if n and n > jax.device_count():
        raise ConfigError(f"mesh.devices={n} but only {jax.device_count()} devices exist")
    if n and n != jax.device_count() and jax.process_count() > 1:
        raise ConfigError(f"mesh.devices={n} selects part of the devices, which needs a single process; "
                          f"this run has {jax.process_count()}")
    return sharding.make_mesh(cfg.mesh, jax.devices()[:n] if n else None)


def mesh_size(mesh: Mesh, target) -> int:
    names = () if target is None else (target,) if isinstance(target, str) else tuple(target)
    return math.prod(mesh.shape[n] for n in names)


def resolve_for_mesh(cfg: Config, mesh: Mesh) -> Config:
    """The config as trained on `mesh`: `heads`/`kv_heads` replicated when their head count does not split
    over their mesh axes (a shard must hold whole heads); model.layout_chunks=0 (auto) -> the batch shard
    count, so per-modality grouping stays local to each device."""
    counts = {"heads": cfg.model.n_heads, "kv_heads": cfg.model.n_kv_heads}
    rules = tuple((name, None if name in counts and counts[name] % mesh_size(mesh, target) else target)
                  for name, target in cfg.mesh.rules)
    cfg = dataclasses.replace(cfg, mesh=dataclasses.replace(cfg.mesh, rules=rules))
    if cfg.model.layout_chunks:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, layout_chunks=batch_shards(cfg, mesh)))


def check_batch_layout(cfg: Config, mesh: Mesh):
    """Global batch must split evenly into grad_accum micro-batches over the batch-sharded mesh axes."""
    shards = batch_shards(cfg, mesh)
    B, A = cfg.train.batch_size, cfg.train.grad_accum
    if B % (A * shards):
        raise ConfigError(f"train.batch_size ({B}) must be a multiple of train.grad_accum ({A}) x the number of "
                          f"batch shards of the mesh ({shards}); got remainder {B % (A * shards)}")


def plan_run(cfg: Config, splits=("train", "validation")) -> tuple[Mesh, Config]:
    """What a run checks before it creates any file, as ConfigErrors naming the keys: the mesh fits the
    devices, the batch splits over it, each split's data source opens. -> (mesh, cfg as laid out on it)."""
    mesh = train_mesh(cfg)
    rcfg = resolve_for_mesh(cfg, mesh)
    check_batch_layout(rcfg, mesh)
    check_sources(cfg, splits)
    return mesh, rcfg
