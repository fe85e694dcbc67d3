"""The neural audio codec: STFT-feature encoder -> residual VQ -> Vocos-style decoder -> iSTFT.

Encoder: log-magnitude + compressed complex STFT frames (one per hop) -> ConvNeXt-1D blocks -> [B, N, D].
Decoder: ConvNeXt-1D blocks -> per-frame log-magnitude and phase -> inverse STFT (Vocos), which
trains far faster on CPU than upsampling transposed convolutions. Everything runs at the frame
rate (sample_rate / hop), so the model is cheap.

Phase (`phase`): "absolute" predicts each frame's phase outright (Vocos; needs an adversarial loss to become
coherent, and a few bits per frame cannot carry it), "advance" predicts how far each bin's phase moves per hop
as a deviation from the bin's centre frequency and integrates it over frames (a phase vocoder): sinusoids stay
coherent from frame to frame by construction, so overlap-add does not smear what the magnitudes say.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from omni_tokenizers.audio import losses
from omni_tokenizers.audio.discriminator import AdversarialConfig, feature_matching_loss, generator_adv_loss
from omni_tokenizers.audio.dsp import istft, magnitude, stft
from omni_tokenizers.core.rvq import ResidualVQ

from omni.dataclass_config import option

PHASE_MODES = ("advance", "absolute")


@dataclasses.dataclass
class AudioCodecConfig:
    """Codec hyper-parameters; the demo preset is 16 kHz, hop 320 (50 frames/s), 4 x 256 codes."""

    sample_rate: int = option(16000, "input and output sample rate (Hz)")
    hop: int = option(320, "samples per token frame (16 kHz / 320 = 50 frames/s)")
    enc_n_fft: int = option(640, "STFT size of the encoder's input features")
    dec_n_fft: int = option(1280, "STFT size the decoder synthesises")
    dec_subframes: int = option(1, "STFT frames the decoder synthesises per token frame (hop / dec_subframes "
                                   "apart; 1: one per hop)")
    channels: int = option(192, "width of the encoder/decoder blocks")
    enc_blocks: int = option(3, "encoder ConvNeXt blocks")
    dec_blocks: int = option(4, "decoder ConvNeXt blocks")
    kernel: int = option(7, "temporal kernel of the blocks' depthwise convs")
    mlp_ratio: int = option(3, "hidden width of a block's MLP / channels")
    latent_dim: int = option(64, "width of the quantized latent")
    num_quantizers: int = option(4, "residual VQ levels (each level: codebook_size codes per frame)")
    codebook_size: int = option(256, "codes per residual level")
    ema_decay: float = option(0.95, "EMA decay of the codebook updates")
    dead_threshold: float = option(0.5, "codes used less than this (EMA count) are re-seeded from the batch")
    quantizer_dropout: float = option(0.5, "probability of training with a random number of levels (coarse-to-fine)")
    max_seconds: float = option(600.0, "longer clips are refused by encode")
    mel_weight: float = option(1.0, "loss weight: multi-scale log-mel distance")
    stft_weight: float = option(0.5, "loss weight: multi-resolution STFT magnitude")
    complex_weight: float = option(0.0, "loss weight: multi-resolution complex STFT (phase-aware)")
    wave_weight: float = option(0.0, "loss weight: waveform L1 (phase-aware)")
    phase: str = option("absolute", "decoder phase: 'advance' (integrated per-hop phase advance, coherent) or "
                                   "'absolute' (per-frame phase, the format of saves made before this option)")
    commit_weight: float = option(0.1, "loss weight: VQ commitment")
    seed: int = option(0, "initialisation seed")

    def validate(self) -> AudioCodecConfig:
        for k in ("sample_rate", "hop", "enc_n_fft", "dec_n_fft", "channels", "kernel", "mlp_ratio",
                  "latent_dim", "num_quantizers", "codebook_size", "dec_subframes"):
            if getattr(self, k) <= 0:
                raise ValueError(f"audio codec {k} must be > 0, got {getattr(self, k)}")
        if self.hop % self.dec_subframes:
            raise ValueError(f"audio codec dec_subframes must divide hop ({self.hop}), got {self.dec_subframes}")
        for k, hop, what in (("enc_n_fft", self.hop, "hop"), ("dec_n_fft", self.dec_hop, "hop / dec_subframes")):
            n = getattr(self, k)
            if n % hop or (n - hop) % 2:
                raise ValueError(f"audio codec {k} ({n}) must be a multiple of {hop} ({what}) with {k} - {hop} even")
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")
        for k in ("enc_blocks", "dec_blocks", "dead_threshold", "mel_weight", "stft_weight", "complex_weight",
                  "wave_weight", "commit_weight", "seed"):
            if getattr(self, k) < 0:
                raise ValueError(f"audio codec {k} must be >= 0, got {getattr(self, k)}")
        if self.phase not in PHASE_MODES:
            raise ValueError(f"audio codec phase must be one of {PHASE_MODES}, got {self.phase!r}")
        if not 0 < self.ema_decay < 1:
            raise ValueError(f"audio codec ema_decay must be in (0, 1), got {self.ema_decay}")
        if not 0 <= self.quantizer_dropout <= 1:
            raise ValueError(f"audio codec quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        return self

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def dec_hop(self) -> int:
        """Samples between the decoder's synthesis frames."""
        return self.hop // self.dec_subframes


class ConvNeXt1D(nnx.Module):
    """Depthwise conv -> LayerNorm -> MLP, residual with a small layer scale: [B, N, C] -> [B, N, C]."""

    def __init__(self, channels: int, kernel: int, mlp_ratio: int, scale: float, *, rngs: nnx.Rngs):
        self.dw = nnx.Conv(channels, channels, (kernel,), feature_group_count=channels, padding="SAME",
                           rngs=rngs)
        self.norm = nnx.LayerNorm(channels, rngs=rngs)
        self.up = nnx.Linear(channels, mlp_ratio * channels, rngs=rngs)
        self.down = nnx.Linear(mlp_ratio * channels, channels, rngs=rngs)
        self.gamma = nnx.Param(jnp.full((channels,), scale, jnp.float32))

    def __call__(self, x):
        return x + self.gamma[...] * self.down(jax.nn.gelu(self.up(self.norm(depthwise_conv(x, self.dw)))))


def depthwise_conv(x_bnc: jax.Array, conv: nnx.Conv) -> jax.Array:
    """`conv(x)` for a depthwise ("SAME", stride 1) nnx.Conv, as a sum of k shifted, scaled copies of x.

    XLA's CPU backend runs grouped convolutions far slower than this: 5.5 vs 0.13 ms forward and 7.6 vs 0.57 ms
    for the gradient at the demo shapes (16 x 50 frames x 192 channels, kernel 7; docs/audio_tokenizer.md,
    "Training length"). The parameters stay the Conv's, so saves and initialisation are unchanged.
    """
    w = conv.kernel[...]                                 # [k, 1, C]
    k = w.shape[0]
    xp = jnp.pad(x_bnc, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))  # XLA's "SAME": the odd one out on the right
    n = x_bnc.shape[1]
    out = xp[:, 0:n] * w[0, 0]
    for i in range(1, k):
        out = out + xp[:, i:i + n] * w[i, 0]
    return out + conv.bias[...]


class Backbone(nnx.Module):
    """Input projection, a stack of ConvNeXt1D blocks, output projection: [B, N, Din] -> [B, N, Dout]."""

    def __init__(self, d_in: int, d_out: int, cfg: AudioCodecConfig, blocks: int, in_kernel: int, *,
                 rngs: nnx.Rngs):
        self.inp = nnx.Conv(d_in, cfg.channels, (in_kernel,), padding="SAME", rngs=rngs)
        self.norm_in = nnx.LayerNorm(cfg.channels, rngs=rngs)
        self.blocks = nnx.List([ConvNeXt1D(cfg.channels, cfg.kernel, cfg.mlp_ratio, 1.0 / max(blocks, 1),
                                           rngs=rngs) for _ in range(blocks)])
        self.norm_out = nnx.LayerNorm(cfg.channels, rngs=rngs)
        self.out = nnx.Linear(cfg.channels, d_out, rngs=rngs)

    def __call__(self, x):
        h = self.norm_in(self.inp(x))
        for blk in self.blocks:
            h = blk(h)
        return self.out(self.norm_out(h))


def integrate_phase(deviation_bnf: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """Per-hop phase advances -> frame phases [B, N, F]: bin k advances 2 pi k hop / n_fft per frame (its centre
    frequency) plus the predicted deviation; the running sum starts at frame 0. The centre-frequency part is
    taken modulo 2 pi exactly (integers), so long clips keep float32 precision."""
    n, f = deviation_bnf.shape[-2:]
    turns = (np.arange(n)[:, None] * np.arange(f)[None, :] * hop) % n_fft  # exact integer phase, in 1/n_fft turns
    centre = (2 * np.pi / n_fft) * turns.astype(np.float32)
    return centre + jnp.cumsum(deviation_bnf, axis=-2)


class AudioCodec(nnx.Module):
    """wave [B, T] (T a multiple of hop) <-> latents [B, T / hop, D] <-> RVQ codes [B, T / hop, Q]."""

    def __init__(self, cfg: AudioCodecConfig, *, rngs: nnx.Rngs | None = None):
        cfg.validate()
        rngs = rngs if rngs is not None else nnx.Rngs(cfg.seed)
        self.cfg = cfg
        self.encoder = Backbone(3 * (cfg.enc_n_fft // 2 + 1), cfg.latent_dim, cfg, cfg.enc_blocks, 1, rngs=rngs)
        self.rvq = ResidualVQ(cfg.num_quantizers, cfg.codebook_size, cfg.latent_dim, decay=cfg.ema_decay,
                              dead_threshold=cfg.dead_threshold, dropout_prob=cfg.quantizer_dropout,
                              rngs=rngs)
        self.n_bins = cfg.dec_n_fft // 2 + 1
        self.decoder = Backbone(cfg.latent_dim, 2 * self.n_bins * cfg.dec_subframes, cfg, cfg.dec_blocks,
                                cfg.kernel, rngs=rngs)
        # start quiet: the log-magnitude half of each sub-frame's head begins near exp(-5)
        bias = self.decoder.out.bias
        bias[...] = bias[...].reshape(cfg.dec_subframes, 2, self.n_bins).at[:, 0].set(-5.0).reshape(-1)

    def encode_latents(self, wave_bt: jax.Array) -> jax.Array:
        """wave [B, T] -> continuous latents [B, T / hop, D] from log-magnitude + compressed complex STFT."""
        spec = stft(wave_bt.astype(jnp.float32), self.cfg.enc_n_fft, self.cfg.hop)
        mag = magnitude(spec)
        comp = spec * (mag ** 0.3 / mag)  # |S|^0.3 with the phase kept: the encoder sees timing
        return self.encoder(jnp.concatenate([jnp.log(mag + 1e-4), jnp.real(comp), jnp.imag(comp)], -1))

    def decode_latents(self, z_bnd: jax.Array) -> jax.Array:
        """latents [B, N, D] -> wave [B, N * hop] via predicted log-magnitude + phase and iSTFT."""
        out = self.decoder(z_bnd)
        b, n = out.shape[:2]
        out = out.reshape(b, n * self.cfg.dec_subframes, 2 * self.n_bins)  # sub-frames in time order
        logmag, phase = out[..., : self.n_bins], out[..., self.n_bins:]
        if self.cfg.phase == "advance":
            phase = integrate_phase(phase, self.cfg.dec_n_fft, self.cfg.dec_hop)
        mag = jnp.exp(jnp.minimum(logmag, 5.0))
        spec = jax.lax.complex(mag * jnp.cos(phase), mag * jnp.sin(phase))
        return istft(spec, self.cfg.dec_n_fft, self.cfg.dec_hop)

    def encode(self, wave_bt: jax.Array, num_quantizers: int) -> jax.Array:
        """wave [B, T] -> codes [B, T / hop, k] (k = num_quantizers first levels)."""
        return self.rvq.encode(self.encode_latents(wave_bt), num_quantizers)

    def decode(self, codes_bnk: jax.Array) -> jax.Array:
        """codes [B, N, k] -> wave [B, N * hop]."""
        return self.decode_latents(self.rvq.decode(codes_bnk))

    def __call__(self, wave_bt: jax.Array, key: jax.Array | None = None, train: bool = False):
        """Full pass: returns (reconstruction [B, T], codes [B, N, Q], rvq parts)."""
        zq, codes, parts = self.rvq(self.encode_latents(wave_bt), key, train=train)
        return self.decode_latents(zq), codes, parts


def codec_loss(model: AudioCodec, batch: dict, key: jax.Array, disc: nnx.Module | None = None,
               adv: AdversarialConfig | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Training objective (omni_tokenizers.core.training.fit): batch {"wave": [B, T]}; `key` drives quantizer
    dropout and dead-code restarts. With discriminators `disc` (omni_tokenizers.audio.discriminator) the hinge
    adversarial and feature-matching terms are added with `adv`'s weights."""
    cfg = model.cfg
    wave = batch["wave"]
    recon, _, parts = model(wave, key, train=True)
    mel = losses.multiscale_mel_loss(wave, recon, cfg.sample_rate)
    total = cfg.mel_weight * mel + cfg.commit_weight * parts["commit"]
    out = {"mel": mel, "commit": parts["commit"], "code_usage": parts["code_usage"]}
    if cfg.stft_weight:
        out["stft"] = losses.multiresolution_stft_loss(wave, recon)
        total = total + cfg.stft_weight * out["stft"]
    if cfg.complex_weight:
        out["complex"] = losses.multiresolution_complex_loss(wave, recon)
        total = total + cfg.complex_weight * out["complex"]
    if cfg.wave_weight:
        out["wave"] = jnp.mean(jnp.abs(wave - recon))
        total = total + cfg.wave_weight * out["wave"]
    if disc is not None:
        real, fake = disc(wave), disc(recon)
        out["adv"] = generator_adv_loss(fake)
        out["feature"] = feature_matching_loss(real, fake)
        total = total + adv.weight * out["adv"] + adv.feature_weight * out["feature"]
    return total, out
