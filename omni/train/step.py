"""The jitted train step: token-weighted gradient accumulation, clipping, AdamW, non-finite skipping.

One `jax.jit` with explicit in/out shardings and the train state donated. Micro-batch losses are
combined weighted by their loss tokens, so `grad_accum=A` computes the same update as one big batch.
A step whose loss, gradient norm, new params or optimizer state are not all finite (a NaN learning rate
included) leaves params and optimizer state unchanged.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from omni import modality as mod
from omni import sharding
from omni.config import Config
from omni.model import loss_fn
from omni.model.loss import modality_weights
from omni.train.mesh import batch_shardings, check_batch_layout
from omni.train.optimizer import learning_rate_schedule
from omni.train.state import TrainState


def _sum_keys() -> tuple[str, ...]:
    return ("nll", "z_loss") + tuple(f"loss/{m}" for m in mod.names())


def _token_key(k: str) -> str:
    return f"tokens/{k.split('/', 1)[1]}" if k.startswith("loss/") else "tokens"


def weighted_sums(graphdef, params, batch, loss_weights=None):
    """(loss * its denominator, sums): every mean of `loss_fn` multiplied by what it averaged over (the loss: its
    tokens' summed `loss_weights`, see loss_fn), so micro-batches and eval batches add up exactly."""
    loss, aux = loss_fn(nnx.merge(graphdef, params), batch, loss_weights=loss_weights)
    sums = {k: aux[k] * aux[_token_key(k)] for k in _sum_keys()}
    sums.update({k: v for k, v in aux.items() if k.startswith("tokens")})
    sums["loss_weight"] = aux["loss_weight"]
    return loss * aux["loss_weight"], sums


def means(loss_sum, sums, xp=jnp) -> dict:
    """Turns token-weighted sums back into means (0 where a modality had no tokens); xp: jnp or np."""
    out = {"loss": loss_sum / xp.maximum(sums["loss_weight"], 1e-9)}
    for k in _sum_keys():
        out[k] = sums[k] / xp.maximum(sums[_token_key(k)], 1.0)
    out.update({k: v for k, v in sums.items() if k.startswith("tokens")})
    return out


def fetch(tree):
    """Host numpy copies of replicated (or fully addressable) arrays; works on every process."""
    def one(x):
        if not isinstance(x, jax.Array):
            return x
        return np.asarray(x) if x.is_fully_addressable else np.asarray(x.addressable_data(0))
    return jax.tree.map(one, tree)


def all_finite(tree) -> jax.Array:
    """True iff every floating-point element of `tree` is finite (exact: no norm that could overflow)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.bool_(True)


def apply_if_finite(tx: optax.GradientTransformation, grads, opt_state, params, lr, finite):
    """(params, opt_state, committed) after one update at learning rate `lr` (the optimizer runs at lr 1,
    see `make_optimizer`). The update is committed only if `finite` (loss and gradient norm) and everything
    it would write is finite: a NaN/inf loss or gradient, learning rate or optimizer moment can never reach
    the parameters or the checkpoint; otherwise params and optimizer state are returned unchanged."""
    updates, new_opt_state = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, jax.tree.map(lambda u: u * lr.astype(u.dtype), updates))
    finite = finite & all_finite((new_params, new_opt_state))
    params, opt_state = jax.lax.cond(finite, lambda: (new_params, new_opt_state), lambda: (params, opt_state))
    return params, opt_state, finite


def make_train_step(cfg: Config, graphdef, tx: optax.GradientTransformation, mesh: Mesh,
                    shardings: TrainState):
    """jit(state, batch, lr) -> (state, metrics); lr: float32 [] (see `learning_rate`); metrics are
    replicated scalars (means, norms, counts, `finite`)."""
    check_batch_layout(cfg, mesh)
    A = cfg.train.grad_accum
    bsh = batch_shardings(cfg, mesh)
    weights = modality_weights(cfg.train.loss_weights)
    grad_fn = jax.value_and_grad(lambda p, b: weighted_sums(graphdef, p, b, weights), has_aux=True)

    def micro_batches(batch):  # [B, L] -> [A, B/A, L]; micro-batch a = rows a, A + a, ... (even per shard)
        def split(x):
            x = x.reshape(x.shape[0] // A, A, *x.shape[1:]).swapaxes(0, 1)
            return x
        return {k: split(v) for k, v in batch.items()}

    def step(state: TrainState, batch, lr):
        with sharding.activation_sharding(mesh, cfg.mesh.rules):
            return _step(state, batch, lr)

    def _step(state: TrainState, batch, lr):
        if A == 1:
            (loss_sum, sums), grads = grad_fn(state.params, batch)
        else:
            def body(carry, mb):
                mb = {k: jax.lax.with_sharding_constraint(v, bsh[k]) for k, v in mb.items()}
                (ls, s), g = grad_fn(state.params, mb)
                return jax.tree.map(jnp.add, carry, (ls, s, g)), None
            zero = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, state.params,
                                                               jax.tree.map(lambda v: v[0], micro_batches(batch))))
            zero = (zero[0][0], zero[0][1], zero[1])
            (loss_sum, sums, grads), _ = jax.lax.scan(body, zero, micro_batches(batch))
        denom = jnp.maximum(sums["loss_weight"], 1e-9)
        grads = jax.tree.map(lambda g: g / denom, grads)
        metrics = means(loss_sum, sums)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(grad_norm)
        params, opt_state, finite = apply_if_finite(tx, grads, state.opt_state, state.params, lr, finite)
        rng = jax.random.key_data(jax.random.split(jax.random.wrap_key_data(state.rng))[0])
        metrics.update(grad_norm=grad_norm, finite=finite, learning_rate=lr,
                       param_norm=optax.tree.norm(params))
        return TrainState(state.step + 1, params, opt_state, rng), metrics

    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.jit(step, in_shardings=(shardings, bsh, replicated), out_shardings=(shardings, replicated),
                   donate_argnums=0)


def learning_rate(cfg: Config, step: int) -> np.ndarray:
    """The learning rate of update `step` (0-based) as the float32 scalar the train step takes."""
    return np.asarray(learning_rate_schedule(cfg)(step), np.float32)
