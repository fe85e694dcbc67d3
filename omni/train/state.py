"""The train state (step, fp32 params, optimizer state, RNG) and its creation directly sharded on a mesh."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, PartitionSpec

from omni import sharding
from omni.config import Config
from omni.model import build_model


class TrainState(NamedTuple):
    """A pytree; `params` is a pure dict of arrays (nnx.merge(graphdef, params) gives the model)."""

    step: jax.Array       # int32 []: optimizer updates applied so far (skipped non-finite steps included)
    params: Any           # {name: fp32 array}
    opt_state: Any        # optax state mirroring params
    rng: jax.Array        # uint32 [2]: raw PRNG key data, split once per step
    extra: Any = None     # non-parameter model variables updated by the forward pass (e.g. EMA codebooks);
                          # None for the MoT


def abstract_params(cfg: Config):
    """(graphdef, abstract nnx.State of the model's Params) without allocating anything."""
    model = nnx.eval_shape(lambda: build_model(cfg, seed=cfg.seed))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if jax.tree.leaves(rest):
        raise ValueError(f"the model holds non-parameter state {list(rest.keys())}; the trainer expects "
                         "parameters only")
    return graphdef, params


def param_specs(cfg: Config, mesh: Mesh) -> dict:
    """{name: PartitionSpec} for the model's params from the config's logical-axis rules."""
    _, params = abstract_params(cfg)
    return nnx.to_pure_dict(sharding.state_specs(params, cfg.mesh.rules, mesh))


def state_shardings(mesh: Mesh, shapes: TrainState, param_specs, tx) -> TrainState:
    """NamedShardings for every leaf of a train state of `shapes` (its abstract value): params by
    `param_specs` (a tree like `shapes.params`), optimizer moments like their params, step / rng / extra
    replicated. `tx`: the optax transformation of the params, or a dict of them when params and optimizer
    state are dicts of independently optimized parts."""
    def opt_specs(tx, opt_state, pspecs):
        return optax.tree_map_params(tx, lambda _, s: s, opt_state, pspecs,
                                     transform_non_params=lambda _: PartitionSpec(),
                                     is_leaf=lambda x: isinstance(x, PartitionSpec))
    if isinstance(tx, dict):
        opt = {n: opt_specs(tx[n], shapes.opt_state[n], param_specs[n]) for n in tx}
    else:
        opt = opt_specs(tx, shapes.opt_state, param_specs)
    rep = PartitionSpec()
    extra = jax.tree.map(lambda _: rep, shapes.extra)
    return sharding.named_shardings(mesh, TrainState(rep, param_specs, opt, rep, extra))


def mot_state_shardings(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation) -> TrainState:
    """`state_shardings` of the MoT train state of `cfg`: params by the config's logical-axis rules."""
    return state_shardings(mesh, jax.eval_shape(lambda: _init(cfg, tx)), param_specs(cfg, mesh), tx)


def _init(cfg: Config, tx: optax.GradientTransformation) -> TrainState:
    model = build_model(cfg, seed=cfg.seed)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    rng = jax.random.key_data(jax.random.fold_in(jax.random.key(cfg.seed), 1))
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), rng)


def create_train_state(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation):
    """(graphdef, TrainState) initialized inside one jit whose outputs are already sharded on `mesh`."""
    graphdef, _ = abstract_params(cfg)
    shardings = mot_state_shardings(cfg, mesh, tx)
    state = jax.jit(lambda: _init(cfg, tx), out_shardings=shardings)()
    return graphdef, state


def abstract_train_state(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation) -> TrainState:
    """ShapeDtypeStructs carrying the target shardings (restore targets for orbax)."""
    shapes = jax.eval_shape(lambda: _init(cfg, tx))
    shardings = mot_state_shardings(cfg, mesh, tx)
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes, shardings)
