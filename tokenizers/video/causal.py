"""Causal 3-D video encoder/decoder (MAGVIT-v2 style): no output frame ever sees a later input frame.

Time convolutions pad only in the past (zeros), norms are per frame, and the temporal down/up-sampling
maps frames 1 + tg*k <-> latents 1 + k with latent 0 a function of frame 0 alone, so a one-frame
clip is encoded exactly like an image. Layout: [B, F, H, W, C].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from omni_tokenizers.core.conv import Down, Up, depth_to_space, space_to_depth


def per_frame(fn, x: jax.Array) -> jax.Array:
    """Applies a [N, H, W, C] -> [N, h, w, c] function to every frame of x [B, F, H, W, C]."""
    b, f = x.shape[:2]
    y = fn(x.reshape((b * f,) + x.shape[2:]))
    return y.reshape((b, f) + y.shape[1:])


class CausalConv3D(nnx.Module):
    """Conv over (time, H, W) with kernel (kt, 3, 3), zero-padded kt-1 frames in the past only."""

    def __init__(self, in_ch: int, out_ch: int, kt: int, rngs: nnx.Rngs, zero_init: bool = False):
        kw = {"kernel_init": nnx.initializers.zeros} if zero_init else {}
        self.conv = nnx.Conv(in_ch, out_ch, (kt, 3, 3), padding=((kt - 1, 0), (1, 1), (1, 1)), rngs=rngs, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


class CausalResBlock(nnx.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))), norms per frame, convs causal in time."""

    def __init__(self, ch: int, kt: int, rngs: nnx.Rngs):
        g = min(8, ch)
        self.norm1 = nnx.GroupNorm(ch, num_groups=g, rngs=rngs)
        self.conv1 = CausalConv3D(ch, ch, kt, rngs)
        self.norm2 = nnx.GroupNorm(ch, num_groups=g, rngs=rngs)
        self.conv2 = CausalConv3D(ch, ch, kt, rngs, zero_init=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.conv1(jax.nn.silu(per_frame(self.norm1, x)))
        return x + self.conv2(jax.nn.silu(per_frame(self.norm2, h)))


def temporal_fold(x: jax.Array, tg: int) -> jax.Array:
    """[B, 1 + tg*k, ...C] -> [B, 1 + k, ..., tg*C]: zero-pad tg-1 past frames, stack each group on C."""
    b, f = x.shape[:2]
    pad = jnp.zeros((b, tg - 1) + x.shape[2:], x.dtype)
    x = jnp.concatenate([pad, x], axis=1)                      # [B, tg*(1+k), ...]
    x = x.reshape((b, (f + tg - 1) // tg, tg) + x.shape[2:])   # [B, 1+k, tg, h, w, C]
    x = jnp.moveaxis(x, 2, -2)                                  # [B, 1+k, h, w, tg, C]
    return x.reshape(x.shape[:-2] + (-1,))


def temporal_unfold(x: jax.Array, tg: int) -> jax.Array:
    """Inverse of temporal_fold: [B, 1 + k, ..., tg*C] -> [B, 1 + tg*k, ..., C] (drops the padding)."""
    b, t = x.shape[:2]
    x = x.reshape(x.shape[:-1] + (tg, -1))
    x = jnp.moveaxis(x, -2, 2).reshape((b, t * tg) + x.shape[2:-2] + (x.shape[-1],))
    return x[:, tg - 1:]


class VideoEncoder(nnx.Module):
    """[B, 1+tg*k, H, W, 3] -> [B, 1+k, H/d, W/d, z_dim]; d = 2**len(channels)."""

    def __init__(self, channels: tuple[int, ...], kts: tuple[int, ...], tg: int, z_dim: int, rngs: nnx.Rngs,
                 shortcut: bool = True):
        self.tg = tg
        self.stem = nnx.Conv(12, channels[0], (3, 3), padding="SAME", rngs=rngs)
        self.downs = nnx.List([Down(channels[i - 1], channels[i], rngs) for i in range(1, len(channels))])
        self.blocks = nnx.List([CausalResBlock(c, kt, rngs) for c, kt in zip(channels, kts)])
        c = channels[-1]
        self.fold = nnx.Linear(tg * c, c, rngs=rngs)
        self.mix = CausalResBlock(c, 2, rngs)
        self.norm = nnx.GroupNorm(c, num_groups=min(8, c), rngs=rngs)
        self.out = nnx.Linear(c, z_dim, rngs=rngs)
        self.d = 2 ** len(channels)
        # Linear shortcut from each group's raw patches to the code (fast to learn; convs add the rest).
        self.skip = nnx.Linear(tg * self.d * self.d * 3, z_dim, rngs=rngs) if shortcut else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x * 2.0 - 1.0
        h = per_frame(lambda f: self.stem(space_to_depth(f, 2)), x)
        for i, blk in enumerate(self.blocks):
            if i:
                h = per_frame(self.downs[i - 1], h)
            h = blk(h)
        h = self.mix(self.fold(temporal_fold(h, self.tg)))
        z = self.out(jax.nn.silu(per_frame(self.norm, h)))
        if self.skip is not None:
            z = z + self.skip(temporal_fold(per_frame(lambda f: space_to_depth(f, self.d), x), self.tg))
        return z


class VideoDecoder(nnx.Module):
    """[B, 1+k, h, w, z_dim] -> [B, 1+tg*k, h*d, w*d, 3] in about [0, 1]."""

    def __init__(self, channels: tuple[int, ...], kts: tuple[int, ...], tg: int, z_dim: int, rngs: nnx.Rngs,
                 shortcut: bool = True):
        self.tg = tg
        rev, rkts = tuple(reversed(channels)), tuple(reversed(kts))
        c = rev[0]
        self.inp = nnx.Linear(z_dim, c, rngs=rngs)
        self.mix = CausalResBlock(c, 2, rngs)
        self.unfold = nnx.Linear(c, tg * c, rngs=rngs)
        self.blocks = nnx.List([CausalResBlock(ch, kt, rngs) for ch, kt in zip(rev, rkts)])
        self.ups = nnx.List([Up(rev[i - 1], rev[i], rngs) for i in range(1, len(rev))])
        self.norm = nnx.GroupNorm(rev[-1], num_groups=min(8, rev[-1]), rngs=rngs)
        self.out = nnx.Conv(rev[-1], 12, (3, 3), padding="SAME", rngs=rngs)
        self.d = 2 ** len(channels)
        self.skip = nnx.Linear(z_dim, tg * self.d * self.d * 3, rngs=rngs) if shortcut else None

    def __call__(self, z: jax.Array) -> jax.Array:
        h = temporal_unfold(self.unfold(self.mix(self.inp(z))), self.tg)
        for i, blk in enumerate(self.blocks):
            if i:
                h = per_frame(self.ups[i - 1], h)
            h = blk(h)
        h = per_frame(lambda f: depth_to_space(self.out(jax.nn.silu(self.norm(f))), 2), h)
        if self.skip is not None:
            h = h + per_frame(lambda f: depth_to_space(f, self.d), temporal_unfold(self.skip(z), self.tg))
        return h * 0.5 + 0.5
