"""Grouped (per-modality) matmuls with static shapes: each token is computed only by its group's weights.

Tokens of a chunk are laid out so that each group is contiguous ("layout space"):
- `tiles`: groups padded to a multiple of `tile` rows; each tile belongs to one group and is one batched
  matmul against that group's weights. Padding costs at most (G - 1) tiles per chunk. Fast on CPU.
- `ragged`: groups sorted without padding and multiplied by `jax.lax.ragged_dot` (native on TPU/GPU); under
  the trainer's mesh, per device inside shard_map (the TPU compiler accepts no batched ragged dot).
The permutations into and out of layout space have custom VJPs (a gather's transpose is the inverse
gather here), so no scatter-add appears in the backward pass.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from omni import sharding


class Layout(NamedTuple):
    """Where each token sits in layout space. C chunks of N tokens; P slots per chunk."""

    src: jax.Array          # [C, P] token index for each slot (N = empty slot)
    dest: jax.Array         # [C, N] slot index of each token
    slot_group: jax.Array   # [C, P] group of each slot
    tile_group: jax.Array   # [C, P // tile] group of each tile (tiles mode) or [C, 0]
    group_sizes: jax.Array  # [C, G] tokens per group
    tile: int               # static tile size (0 in ragged mode)
    num_groups: int

    @property
    def mode(self) -> str:
        return "tiles" if self.tile else "ragged"


jax.tree_util.register_pytree_node(
    Layout,
    lambda lay: ((lay.src, lay.dest, lay.slot_group, lay.tile_group, lay.group_sizes), (lay.tile, lay.num_groups)),
    lambda aux, ch: Layout(*ch, *aux),
)


def make_layout(groups: jax.Array, num_groups: int, mode: str, tile: int) -> Layout:
    """groups: [C, N] int32 group id of each token (values in [0, num_groups))."""
    C, N = groups.shape
    G = num_groups
    onehot = jax.nn.one_hot(groups, G, dtype=jnp.int32)                     # [C, N, G]
    sizes = onehot.sum(axis=1)                                               # [C, G]
    rank = jnp.take_along_axis(jnp.cumsum(onehot, axis=1), groups[..., None], axis=2)[..., 0] - 1
    if mode == "tiles":
        tile = max(1, min(tile, N))
        n_tiles = -(-N // tile) + G - 1
        tiles_per_group = -(-sizes // tile)                                  # [C, G]
        tile_end = jnp.cumsum(tiles_per_group, axis=1)                       # [C, G]
        tile_start = tile_end - tiles_per_group
        slot_start = tile_start * tile
        t = jnp.arange(n_tiles)
        tile_group = jnp.minimum(jnp.sum(t[None, :, None] >= tile_end[:, None, :], axis=2), G - 1)
        P = n_tiles * tile
    elif mode == "ragged":
        slot_start = jnp.cumsum(sizes, axis=1) - sizes
        tile_group = jnp.zeros((C, 0), jnp.int32)
        P = N
        tile = 0
    else:
        raise ValueError(f"grouped matmul mode must be 'tiles' or 'ragged', got {mode!r}")
    dest = jnp.take_along_axis(slot_start, groups, axis=1) + rank            # [C, N]
    src = jnp.full((C, P), N, jnp.int32)
    src = jax.vmap(lambda s, d: s.at[d].set(jnp.arange(N, dtype=jnp.int32)))(src, dest)
    if mode == "tiles":
        slot_group = jnp.repeat(tile_group, tile, axis=1)
    else:
        slot_group = jnp.take_along_axis(groups, jnp.minimum(src, N - 1), axis=1)
    return Layout(src.astype(jnp.int32), dest.astype(jnp.int32), slot_group.astype(jnp.int32),
                  tile_group.astype(jnp.int32), sizes.astype(jnp.int32), tile, G)


def _gather_rows(x, idx):
    """x: [C, N, ...], idx: [C, P] with N meaning 'zero row' -> [C, P, ...]."""
    pad = jnp.zeros((x.shape[0], 1) + x.shape[2:], x.dtype)
    xe = jnp.concatenate([x, pad], axis=1)
    return jax.vmap(lambda a, i: a[i])(xe, idx)


@jax.custom_vjp
def _to_layout(x, src, dest):
    return _gather_rows(x, src)


def _to_layout_fwd(x, src, dest):
    return _gather_rows(x, src), (src, dest)


def _to_layout_bwd(res, g):
    _, dest = res
    return jax.vmap(lambda a, i: a[i])(g, dest), None, None


_to_layout.defvjp(_to_layout_fwd, _to_layout_bwd)


@jax.custom_vjp
def _from_layout(y, src, dest):
    return jax.vmap(lambda a, i: a[i])(y, dest)


def _from_layout_fwd(y, src, dest):
    return jax.vmap(lambda a, i: a[i])(y, dest), (src, dest)


def _from_layout_bwd(res, g):
    src, _ = res
    return _gather_rows(g, src), None, None


_from_layout.defvjp(_from_layout_fwd, _from_layout_bwd)


def gather_to_layout(x: jax.Array, layout: Layout) -> jax.Array:
    """Like `to_layout`, for values that take no gradient (ids, masks): a plain gather, any dtype."""
    return _gather_rows(x, layout.src)


def to_layout(x: jax.Array, layout: Layout) -> jax.Array:
    """x: [C, N, D] in token order -> [C, P, D] in layout space (empty slots are zeros)."""
    return _to_layout(x, layout.src, layout.dest)


def from_layout(y: jax.Array, layout: Layout) -> jax.Array:
    """y: [C, P, D] in layout space -> [C, N, D] in token order."""
    return _from_layout(y, layout.src, layout.dest)


def grouped_matmul(x: jax.Array, w: jax.Array, layout: Layout, axes: tuple = (None, None),
                   out_dtype=None) -> jax.Array:
    """x: [C, P, K] in layout space, w: [G, K, F] (G == 1: shared weights) -> [C, P, F].

    `axes`: the logical axis names of w's K and F dimensions (e.g. ("embed", "heads")), used by the
    ragged mode under the trainer's activation sharding (see `_ragged_sharded`). `out_dtype`: the
    accumulation/result dtype (default x's)."""
    w = w.astype(x.dtype)
    if w.shape[0] == 1:
        return jnp.einsum("cpk,kf->cpf", x, w[0], preferred_element_type=out_dtype)
    if w.shape[0] != layout.num_groups:
        raise ValueError(f"weights have {w.shape[0]} groups, layout has {layout.num_groups}")
    C, P, K = x.shape
    if layout.mode == "tiles":
        T = layout.tile
        xt = x.reshape(C, P // T, T, K)
        wt = w[layout.tile_group]                                            # [C, n_tiles, K, F]
        return jnp.einsum("cntk,cnkf->cntf", xt, wt, preferred_element_type=out_dtype).reshape(C, P, -1)
    ctx = sharding.current_activation_sharding()
    if ctx is None or C == 1:
        return _ragged_local(x, w, layout.group_sizes, out_dtype)
    return _ragged_sharded(x, w, layout.group_sizes, axes, *ctx, out_dtype)


def _ragged_local(x: jax.Array, w: jax.Array, sizes: jax.Array, out_dtype=None) -> jax.Array:
    """x [c, P, K], w [G, K, F], sizes [c, G] -> [c, P, F] as ONE ragged_dot without batch dimensions (the
    TPU compiler rejects batched ragged dots): c chunks are c * G consecutive groups against w tiled c times
    (c = 1 per device under the trainer's layout, so nothing is copied there)."""
    c, P, K = x.shape
    wt = w if c == 1 else jnp.tile(w, (c, 1, 1))
    return jax.lax.ragged_dot(x.reshape(c * P, K), wt, sizes.reshape(-1),
                              preferred_element_type=out_dtype).reshape(c, P, -1)


def _ragged_sharded(x, w, sizes, axes, mesh, rules, out_dtype=None) -> jax.Array:
    """The ragged matmul per device under shard_map: chunks over the batch axes (each device groups its own
    rows), w's K/F over the mesh axes their logical names map to; a sharded K is summed over its axes."""
    C, _, K = x.shape
    k_name, f_name = axes
    c_ax = sharding.logical_to_spec(("batch",), rules, (C,), mesh)[0]
    used = set() if c_ax is None else {c_ax} if isinstance(c_ax, str) else set(c_ax)
    k_ax, f_ax = sharding.logical_to_spec((k_name, f_name), rules, (K, w.shape[2]), mesh)
    k_ax = None if k_ax is not None and used & _names(k_ax) else k_ax
    f_ax = None if f_ax is not None and used & _names(f_ax) else f_ax

    def local(x, w, sizes):
        y = _ragged_local(x, w, sizes, out_dtype)
        return jax.lax.psum(y, k_ax) if k_ax is not None else y

    return jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(c_ax, None, k_ax), PartitionSpec(None, k_ax, f_ax),
                                                     PartitionSpec(c_ax, None)),
                         out_specs=PartitionSpec(c_ax, None, f_ax), check_vma=False)(x, w, sizes)


def _names(ax) -> set[str]:
    return {ax} if isinstance(ax, str) else set(ax)


def group_scale(scale: jax.Array, layout: Layout) -> jax.Array:
    """Per-group vector parameter gathered per slot: scale [G, D] -> [C, P, D] (or [1, 1, D] if G == 1)."""
    if scale.shape[0] == 1:
        return scale[0][None, None, :]
    return scale[layout.slot_group]
