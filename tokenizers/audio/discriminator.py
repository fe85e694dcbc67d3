"""Discriminators for adversarial codec training (HiFi-GAN / Vocos family), sized for CPU fits.

Two kinds look at a waveform [B, T]:
- multi-period (HiFi-GAN's MPD): the wave folded into p interleaved sub-sequences (p in `periods`), each
  read by strided 1-D convolutions; it judges periodic (pitch) structure sample by sample.
- multi-resolution spectrogram (after UnivNet / Vocos MRD): power-law compressed STFT magnitudes at several
  `resolutions`, each frame's whole spectrum read at once by 1-D convolutions over frames (cheap on CPU); it
  judges harmonic fine structure and noise.
Every sub-discriminator returns its logits and the activations of each layer (for the feature-matching loss).

Losses (`discriminator_loss`, `generator_adv_loss`, `feature_matching_loss`) are the hinge form of Vocos/DAC
and HiFi-GAN's L1 feature matching (each layer's mean |real - fake|, averaged over layers).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx
from omni_tokenizers.audio.dsp import magnitude, pad_to_multiple, stft

from omni.dataclass_config import option


@dataclasses.dataclass
class AdversarialConfig:
    """Adversarial terms of an audio codec fit; `weight=0` (the default) trains without a discriminator."""

    weight: float = option(0.0, "generator loss weight of the hinge adversarial term (0: no discriminator)")
    feature_weight: float = option(0.0, "generator loss weight of the discriminators' feature matching (L1)")
    periods: tuple[int, ...] = option((2, 3, 5, 7, 11), "multi-period discriminator periods (empty: none)")
    period_channels: tuple[int, ...] = option((8, 16, 32, 64), "channels of the period discriminators' "
                                                                 "strided conv layers")
    resolutions: tuple[int, ...] = option((512, 1024, 256), "spectrogram discriminator n_fft (hop n_fft / 4; "
                                                            "empty: none)")
    spec_channels: int = option(64, "channels of the spectrogram discriminators' conv layers")

    @property
    def enabled(self) -> bool:
        return self.weight > 0 or self.feature_weight > 0

    def validate(self) -> AdversarialConfig:
        for k in ("weight", "feature_weight"):
            if getattr(self, k) < 0:
                raise ValueError(f"adversarial {k} must be >= 0, got {getattr(self, k)}")
        if self.enabled and not (self.periods or self.resolutions):
            raise ValueError("adversarial training needs at least one discriminator: set periods or resolutions")
        for k in ("periods", "period_channels"):
            if any(v < 1 for v in getattr(self, k)):
                raise ValueError(f"adversarial {k} must all be >= 1, got {getattr(self, k)}")
        if self.spec_channels < 1:
            raise ValueError(f"adversarial spec_channels must be >= 1, got {self.spec_channels}")
        if self.periods and not self.period_channels:
            raise ValueError("adversarial period_channels must list at least one layer width")
        if any(n < 16 or n % 4 for n in self.resolutions):
            raise ValueError(f"adversarial resolutions must be multiples of 4 and >= 16, got {self.resolutions}")
        return self


def _read(convs, out, x):
    """conv + leaky ReLU per layer, then the output conv: (logits, every layer's activations)."""
    feats = []
    for conv in convs:
        x = jax.nn.leaky_relu(conv(x), 0.1)
        feats.append(x)
    x = out(x)
    feats.append(x)
    return x, feats


class PeriodDiscriminator(nnx.Module):
    """wave [B, T] -> (logits [B*p, T', 1], features): strided 1-D convs (kernel 5, stride 3) along each of the
    p interleaved sub-sequences, a stride-1 conv, then a 1-channel output conv."""

    def __init__(self, period: int, channels: tuple[int, ...], *, rngs: nnx.Rngs):
        self.period = period
        widths = (1,) + tuple(channels)
        self.convs = nnx.List([nnx.Conv(a, b, (5,), strides=(3,), padding="SAME", rngs=rngs)
                               for a, b in zip(widths[:-1], widths[1:])])
        self.convs.append(nnx.Conv(widths[-1], widths[-1], (5,), padding="SAME", rngs=rngs))
        self.out = nnx.Conv(widths[-1], 1, (3,), padding="SAME", rngs=rngs)

    def __call__(self, wave_bt):
        p = self.period
        x = pad_to_multiple(wave_bt, p)                     # [B, T'] with T' % p == 0
        b, t = x.shape
        x = x.reshape(b, t // p, p).transpose(0, 2, 1).reshape(b * p, t // p, 1)
        return _read(self.convs, self.out, x)


class SpectrogramDiscriminator(nnx.Module):
    """wave [B, T] -> (logits [B, N', 1], features): |STFT|^0.3 at one resolution read by 1-D convs over frames
    with every frequency bin an input channel (kernel 3; two of them halving the frames), then a 1-channel output.

    UnivNet's and Vocos' spectrogram discriminators use 2-D convs over (time, frequency); on a 2-core CPU those
    cost ~0.2 s per layer's gradient at a demo batch (docs/audio_tokenizer.md), this reads the whole spectrum
    of each frame at once for about a hundredth of it."""

    def __init__(self, n_fft: int, channels: int, *, rngs: nnx.Rngs):
        self.n_fft = n_fft
        c = channels
        self.convs = nnx.List([nnx.Conv(n_fft // 2 + 1, c, (3,), padding="SAME", rngs=rngs),
                               nnx.Conv(c, c, (3,), strides=(2,), padding="SAME", rngs=rngs),
                               nnx.Conv(c, c, (3,), strides=(2,), padding="SAME", rngs=rngs),
                               nnx.Conv(c, c, (3,), padding="SAME", rngs=rngs)])
        self.out = nnx.Conv(c, 1, (3,), padding="SAME", rngs=rngs)

    def __call__(self, wave_bt):
        hop = self.n_fft // 4
        x = magnitude(stft(pad_to_multiple(wave_bt, hop), self.n_fft, hop)) ** 0.3   # [B, N, F]
        return _read(self.convs, self.out, x)


class Discriminators(nnx.Module):
    """All sub-discriminators of an `AdversarialConfig`: wave [B, T] -> list of (logits, features)."""

    def __init__(self, cfg: AdversarialConfig, seed: int = 0, *, rngs: nnx.Rngs | None = None):
        cfg.validate()
        rngs = rngs if rngs is not None else nnx.Rngs(seed)
        self.subs = nnx.List([PeriodDiscriminator(p, tuple(cfg.period_channels), rngs=rngs) for p in cfg.periods]
                             + [SpectrogramDiscriminator(n, cfg.spec_channels, rngs=rngs) for n in cfg.resolutions])

    def __call__(self, wave_bt):
        return [d(wave_bt) for d in self.subs]


def discriminator_loss(real_outs, fake_outs) -> jax.Array:
    """Hinge: mean over sub-discriminators of E[relu(1 - D(real))] + E[relu(1 + D(fake))]."""
    terms = [jnp.mean(jax.nn.relu(1 - r)) + jnp.mean(jax.nn.relu(1 + f))
             for (r, _), (f, _) in zip(real_outs, fake_outs)]
    return sum(terms) / len(terms)


def generator_adv_loss(fake_outs) -> jax.Array:
    """Hinge generator term: mean over sub-discriminators of E[relu(1 - D(fake))]."""
    return sum(jnp.mean(jax.nn.relu(1 - f)) for f, _ in fake_outs) / len(fake_outs)


def feature_matching_loss(real_outs, fake_outs) -> jax.Array:
    """Mean over sub-discriminators and layers of mean |features(real) - features(fake)| (real held fixed)."""
    terms = [jnp.mean(jnp.abs(jax.lax.stop_gradient(a) - b))
             for (_, fr), (_, ff) in zip(real_outs, fake_outs) for a, b in zip(fr, ff)]
    return sum(terms) / len(terms)
