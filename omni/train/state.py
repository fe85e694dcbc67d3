"""The train state (step, fp32 params, optimizer state, RNG) and its creation directly sharded on a mesh."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

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


def _named(mesh: Mesh, specs):
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, PartitionSpec))


def state_shardings(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation) -> TrainState:
    """NamedShardings for every leaf: params by rules, optimizer moments like their params, scalars replicated."""
    pspecs = param_specs(cfg, mesh)
    abs_params = nnx.to_pure_dict(abstract_params(cfg)[1])
    abs_opt = jax.eval_shape(tx.init, abs_params)
    opt_specs = optax.tree_map_params(tx, lambda _, s: s, abs_opt, pspecs,
                                      transform_non_params=lambda _: PartitionSpec(),
                                      is_leaf=lambda x: isinstance(x, PartitionSpec))
    rep = PartitionSpec()
    return TrainState(_named(mesh, rep), _named(mesh, pspecs), _named(mesh, opt_specs), _named(mesh, rep))


def _init(cfg: Config, tx: optax.GradientTransformation) -> TrainState:
    model = build_model(cfg, seed=cfg.seed)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    rng = jax.random.key_data(jax.random.fold_in(jax.random.key(cfg.seed), 1))
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), rng)


def create_train_state(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation):
    """(graphdef, TrainState) initialized inside one jit whose outputs are already sharded on `mesh`."""
    graphdef, _ = abstract_params(cfg)
    shardings = state_shardings(cfg, mesh, tx)
    state = jax.jit(lambda: _init(cfg, tx), out_shardings=shardings)()
    return graphdef, state


def abstract_train_state(cfg: Config, mesh: Mesh, tx: optax.GradientTransformation) -> TrainState:
    """ShapeDtypeStructs carrying the target shardings (restore targets for orbax)."""
    shapes = jax.eval_shape(lambda: _init(cfg, tx))
    shardings = state_shardings(cfg, mesh, tx)
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes, shardings)
