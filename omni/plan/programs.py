"""The programs a pod run executes, as (jitted function, abstract sharded arguments) ready to lower for any mesh.

Each builder takes the config as laid out on the mesh (`omni.train.mesh.resolve_for_mesh`) and returns a
`Program`; nothing is allocated (arguments are ShapeDtypeStructs carrying NamedShardings), so the same
code lowers for 8 fake CPU devices or a 256-chip TPU slice.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from omni import sharding
from omni.attention import MaskInfo
from omni.config import Config
from omni.model import model_stats
from omni.model.mot import KVCache
from omni.train.evaluate import eval_step_fn
from omni.train.mesh import batch_shardings
from omni.train.optimizer import make_optimizer
from omni.train.state import abstract_params, abstract_train_state, mot_state_shardings
from omni.train.step import make_train_step


@dataclasses.dataclass
class Program:
    fn: Callable            # a jax.jit-wrapped function
    args: tuple             # abstract arguments (ShapeDtypeStructs with shardings)
    flops: float | None     # model FLOPs of one call (analytic: matmuls + attention); None: XLA's count
    batch: int              # global rows per call
    attention: bool = True  # runs the MoT's attention (reports attention_impl)
    kwargs: dict = dataclasses.field(default_factory=dict)

    def lower(self):
        return self.fn.lower(*self.args, **self.kwargs)


def _sds(shape, dtype, sh) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sh)


def abstract_batch(cfg: Config, mesh: Mesh, batch: int | None = None) -> dict:
    B, L = batch or cfg.train.batch_size, cfg.train.seq_len
    return {k: _sds((B, L), jnp.int32, sh) for k, sh in batch_shardings(cfg, mesh).items()}


def train_program(cfg: Config, mesh: Mesh) -> Program:
    """The sharded MoT train step (grad accumulation, clipping, AdamW, non-finite skip), state donated."""
    tx = make_optimizer(cfg)
    graphdef, _ = abstract_params(cfg)
    fn = make_train_step(cfg, graphdef, tx, mesh, mot_state_shardings(cfg, mesh, tx))
    lr = _sds((), jnp.float32, NamedSharding(mesh, PartitionSpec()))
    B, L = cfg.train.batch_size, cfg.train.seq_len
    flops = model_stats(cfg, L).train_flops_per_token * B * L
    return Program(fn, (abstract_train_state(cfg, mesh, tx), abstract_batch(cfg, mesh), lr), flops, B)


def _abstract_params(cfg: Config, mesh: Mesh):
    tx = make_optimizer(cfg)
    return abstract_train_state(cfg, mesh, tx).params


def eval_program(cfg: Config, mesh: Mesh) -> Program:
    """The held-out loss step the trainer runs every eval_every steps (token-weighted sums)."""
    graphdef, _ = abstract_params(cfg)
    fn = eval_step_fn(graphdef, mesh, tuple(cfg.mesh.rules))
    B, L = cfg.train.batch_size, cfg.train.seq_len
    flops = model_stats(cfg, L).forward_flops_per_token * B * L
    return Program(fn, (_abstract_params(cfg, mesh), abstract_batch(cfg, mesh)), flops, B)


def decode_flops_per_token(cfg: Config, cache_len: int) -> float:
    """Forward FLOPs of one new token attending to `cache_len` cached keys (no causal halving)."""
    st = model_stats(cfg, cache_len)
    m = cfg.model
    causal_half = m.n_layers * 4 * cache_len * m.n_heads * m.head_dim * 0.5
    return st.forward_flops_per_token + causal_half


def decode_program(cfg: Config, mesh: Mesh, batch: int | None = None, cache_len: int | None = None) -> Program:
    """One KV-cache step of `omni.sample`: B new tokens (one per row) against a [n_layers, B, S, Hkv, Dh]
    cache of S = model.max_seq_len slots, returning next-token logits and the updated cache (donated)."""
    graphdef, _ = abstract_params(cfg)
    rules = tuple(cfg.mesh.rules)
    B = batch or cfg.train.batch_size
    S = cache_len or cfg.model.max_seq_len
    m = cfg.model
    rows = sharding.logical_to_spec(("batch", "seq"), rules, (B, S), mesh)
    kv = sharding.logical_to_spec(("layers", "batch", "seq", "kv_heads", "head_dim"), rules,
                                  (m.n_layers, B, S, m.n_kv_heads, m.head_dim), mesh)
    named = lambda spec: NamedSharding(mesh, spec)  # noqa: E731
    dt = jnp.dtype(m.dtype)
    info = MaskInfo(*(_sds((B, S), jnp.int32, named(rows)),) * 3)
    kvc = KVCache(_sds((m.n_layers, B, S, m.n_kv_heads, m.head_dim), dt, named(kv)),
                _sds((m.n_layers, B, S, m.n_kv_heads, m.head_dim), dt, named(kv)), info)
    row = named(sharding.logical_to_spec(("batch", "seq"), rules, (B, 1), mesh))
    rep = named(PartitionSpec())

    def step(params, cache, tokens, modality, positions, index):
        with sharding.activation_sharding(mesh, rules):
            model = nnx.merge(graphdef, params)
            one = jnp.ones_like(tokens)
            h, cache = model(tokens, modality, MaskInfo(one, positions, 0 * one), cache=cache, cache_index=index)
            return model.logits(h, modality)[:, -1], cache

    fn = jax.jit(step, donate_argnums=1, out_shardings=(named(sharding.logical_to_spec(
        ("batch", "vocab"), rules, (B, cfg.vocab.build().size), mesh)), jax.tree.map(lambda x: x.sharding, kvc)))
    args = (_abstract_params(cfg, mesh), kvc, _sds((B, 1), jnp.int32, row), _sds((B, 1), jnp.int32, row),
            _sds((B, 1), jnp.int32, row), _sds((), jnp.int32, rep))
    return Program(fn, args, decode_flops_per_token(cfg, S) * B, B)


def arg_bytes_per_device(args) -> int:
    """Bytes of the arguments' shards on one device, from shapes and shardings alone (exact, and known even
    when the compiler rejects the program)."""
    total = 0
    for x in jax.tree.leaves(args):
        shape = x.sharding.shard_shape(x.shape) if x.sharding is not None else x.shape
        total += int(np.prod(shape)) * jnp.dtype(x.dtype).itemsize
    return total
