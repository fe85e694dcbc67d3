"""Held-out loss: token-weighted mean loss (and per target modality) over the first N batches of a split.

`eval_step_fn` is the one eval step (the trainer's evaluation, `omni.plan.programs` and the per-direction
losses of `omni.eval.heldout_loss` all use it)."""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from omni import sharding
from omni.config import Config
from omni.data.pipeline import make_iterator
from omni.train.step import fetch, means, weighted_sums

_EVAL_FNS: dict = {}


def eval_step_fn(graphdef, mesh, rules):
    """One jitted eval step per (model structure, mesh, rules); outputs replicated scalars."""
    key = (graphdef, mesh, rules)
    if key not in _EVAL_FNS:
        if mesh is None:
            _EVAL_FNS[key] = jax.jit(lambda params, batch: weighted_sums(graphdef, params, batch))
        else:
            def fn(params, batch):
                with sharding.activation_sharding(mesh, rules):
                    return weighted_sums(graphdef, params, batch)
            _EVAL_FNS[key] = jax.jit(fn, out_shardings=NamedSharding(mesh, PartitionSpec()))
    return _EVAL_FNS[key]


def _mesh_of(params):
    for leaf in jax.tree.leaves(params):
        if isinstance(getattr(leaf, "sharding", None), NamedSharding):
            return leaf.sharding.mesh
    return None


def evaluate(model, cfg: Config, split: str = "validation", batches: int | None = None) -> dict[str, float]:
    """{"loss", "nll", "z_loss", "loss/<m>", "tokens", "tokens/<m>"} over `batches` (default
    train.eval_batches) batches of `split`, always the same ones (data seed = cfg.seed).

    `model` may be sharded on a mesh (each process then reads its own rows) or live on one device.
    """
    batches = cfg.train.eval_batches if batches is None else batches
    if batches <= 0:
        raise ValueError(f"evaluate needs batches > 0, got {batches}")
    graphdef, params = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(params)
    mesh = _mesh_of(params)
    bs = None if mesh is None else sharding.batch_sharding(mesh, cfg.mesh.rules)

    def put(x):  # this process's rows -> a global array on the model's mesh (or the default device)
        return jax.numpy.asarray(x) if bs is None else jax.make_array_from_process_local_data(bs, x)
    it = make_iterator(cfg, split, seed=cfg.seed)
    fn = eval_step_fn(graphdef, mesh, tuple(cfg.mesh.rules))
    total = None
    try:
        for _ in range(batches):
            batch = {k: put(v) for k, v in next(it).items()}
            out = jax.tree.map(lambda x: np.float64(x), fetch(fn(params, batch)))
            total = out if total is None else jax.tree.map(np.add, total, out)
    finally:
        it.close()
    loss_sum, sums = total
    return {k: float(v) for k, v in means(loss_sum, sums, np).items()}
