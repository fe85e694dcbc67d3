"""Convolutional building blocks shared by the image and video tokenizers (NHWC / NFHWC layouts)."""
from __future__ import annotations

import jax
from flax import nnx


def space_to_depth(x: jax.Array, r: int) -> jax.Array:
    """[B, H, W, C] -> [B, H/r, W/r, C*r*r] (pixel unshuffle)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // r, r, w // r, r, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // r, w // r, r * r * c)


def depth_to_space(x: jax.Array, r: int) -> jax.Array:
    """[B, h, w, C*r*r] -> [B, h*r, w*r, C] (pixel shuffle; inverse of space_to_depth)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, r, r, c // (r * r))
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * r, w * r, c // (r * r))


class ResBlock(nnx.Module):
    """x + conv3x3(silu(norm(conv3x3(silu(norm(x)))))); the second conv starts at zero."""

    def __init__(self, ch: int, rngs: nnx.Rngs):
        self.norm1 = nnx.GroupNorm(ch, num_groups=min(8, ch), rngs=rngs)
        self.conv1 = nnx.Conv(ch, ch, (3, 3), padding="SAME", rngs=rngs)
        self.norm2 = nnx.GroupNorm(ch, num_groups=min(8, ch), rngs=rngs)
        self.conv2 = nnx.Conv(ch, ch, (3, 3), padding="SAME", rngs=rngs,
                              kernel_init=nnx.initializers.zeros)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        return x + self.conv2(jax.nn.silu(self.norm2(h)))


class Down(nnx.Module):
    """Stride-2 downsampling: space_to_depth(2) then a 1x1 conv to `out_ch` (cheap and lossless)."""

    def __init__(self, in_ch: int, out_ch: int, rngs: nnx.Rngs):
        self.proj = nnx.Conv(4 * in_ch, out_ch, (1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.proj(space_to_depth(x, 2))


class Up(nnx.Module):
    """2x upsampling: a 1x1 conv to 4*out_ch then depth_to_space(2)."""

    def __init__(self, in_ch: int, out_ch: int, rngs: nnx.Rngs):
        self.proj = nnx.Conv(in_ch, 4 * out_ch, (1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return depth_to_space(self.proj(x), 2)


class Encoder2D(nnx.Module):
    """[B, H, W, 3] -> [B, H/d, W/d, z_dim], d = 2 ** len(channels) (first 2x by pixel unshuffle)."""

    def __init__(self, channels: tuple[int, ...], res_blocks: int, z_dim: int, rngs: nnx.Rngs,
                 in_ch: int = 3):
        self.stem = nnx.Conv(4 * in_ch, channels[0], (3, 3), padding="SAME", rngs=rngs)
        stages = []
        for i, ch in enumerate(channels):
            blocks = [Down(channels[i - 1], ch, rngs)] if i else []
            blocks += [ResBlock(ch, rngs) for _ in range(res_blocks)]
            stages.append(nnx.List(blocks))
        self.stages = nnx.List(stages)
        self.norm = nnx.GroupNorm(channels[-1], num_groups=min(8, channels[-1]), rngs=rngs)
        self.out = nnx.Conv(channels[-1], z_dim, (1, 1), rngs=rngs)
        self.d = 2 ** len(channels)
        # Linear patch shortcut (PCA-like): learns the coarse code in a few steps, convs add the rest.
        self.skip = nnx.Linear(self.d * self.d * in_ch, z_dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x * 2.0 - 1.0
        h = self.stem(space_to_depth(x, 2))
        for stage in self.stages:
            for blk in stage:
                h = blk(h)
        return self.out(jax.nn.silu(self.norm(h))) + self.skip(space_to_depth(x, self.d))


class Decoder2D(nnx.Module):
    """[B, h, w, z_dim] -> [B, h*d, w*d, 3] in about [0, 1] (mirror of Encoder2D)."""

    def __init__(self, channels: tuple[int, ...], res_blocks: int, z_dim: int, rngs: nnx.Rngs,
                 out_ch: int = 3):
        rev = tuple(reversed(channels))
        self.inp = nnx.Conv(z_dim, rev[0], (3, 3), padding="SAME", rngs=rngs)
        stages = []
        for i, ch in enumerate(rev):
            blocks = [Up(rev[i - 1], ch, rngs)] if i else []
            blocks += [ResBlock(ch, rngs) for _ in range(res_blocks)]
            stages.append(nnx.List(blocks))
        self.stages = nnx.List(stages)
        self.norm = nnx.GroupNorm(rev[-1], num_groups=min(8, rev[-1]), rngs=rngs)
        self.out = nnx.Conv(rev[-1], 4 * out_ch, (3, 3), padding="SAME", rngs=rngs)
        self.d = 2 ** len(channels)
        self.skip = nnx.Linear(z_dim, self.d * self.d * out_ch, rngs=rngs)  # linear patch shortcut

    def __call__(self, z: jax.Array) -> jax.Array:
        h = self.inp(z)
        for stage in self.stages:
            for blk in stage:
                h = blk(h)
        y = depth_to_space(self.out(jax.nn.silu(self.norm(h))), 2) + depth_to_space(self.skip(z), self.d)
        return y * 0.5 + 0.5
