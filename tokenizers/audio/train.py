"""Training and held-out evaluation of the audio tokenizer (presets in configs/tokenizers_audio.py).

Batches are random fixed-length crops of the training clips with a random gain, streamed through grain
and trained by omni's one training loop (omni_tokenizers.core.training); held-out metrics are
mel distance and SI-SNR of whole clips at each evaluated number of levels, optionally next to the
classical baseline codec at >= the same bits (omni_tokenizers.audio.baseline).
"""
from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx
from omni_tokenizers.audio import AudioTokenizer
from omni_tokenizers.audio.baseline import baseline_roundtrip
from omni_tokenizers.audio.codec import AudioCodec, AudioCodecConfig, codec_loss
from omni_tokenizers.audio.discriminator import AdversarialConfig, Discriminators, discriminator_loss
from omni_tokenizers.audio.losses import mel_distance, si_snr
from omni_tokenizers.core.data import first_items, source_weights_option
from omni_tokenizers.core.training import fit
from omni_tokenizers.trainers import TRAINERS

from omni.config import LoopConfig, MeshConfig, check_source_weights, option
from omni.train.module_task import Part


@dataclasses.dataclass
class AudioTrainConfig:
    """Codec + optimizer + data settings for one audio tokenizer fit."""

    model: AudioCodecConfig = dataclasses.field(default_factory=AudioCodecConfig)
    train: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    adversarial: AdversarialConfig = dataclasses.field(default_factory=AdversarialConfig)
    init_from: str = option("", "start from this saved audio tokenizer's weights (a folder from an earlier fit "
                                "with the same `model` section), e.g. to add adversarial training to it")
    segment_seconds: float = option(1.0, "training crop length (s)")
    min_gain: float = option(0.3, "random gain in [min_gain, 1] x (0.95 / clip peak)")
    eval_items: int = option(24, "held-out clips for periodic and final metrics")
    eval_seconds: float = option(4.0, "periodic evals use the first eval_seconds of each clip")
    eval_quantizers: tuple[int, ...] = option((2, 4), "level counts the final evaluation reports")
    source_weights: tuple[tuple[str, float], ...] = source_weights_option()

    def validate(self) -> AudioTrainConfig:
        self.model.validate()
        self.train.validate()
        self.mesh.validate()
        self.adversarial.validate()
        if self.segment_seconds * self.model.sample_rate < self.model.hop * 4:
            raise ValueError(f"segment_seconds={self.segment_seconds} is shorter than 4 frames")
        if not 0 < self.min_gain <= 1:
            raise ValueError(f"min_gain must be in (0, 1], got {self.min_gain}")
        if self.eval_items <= 0 or self.eval_seconds <= 0:
            raise ValueError("eval_items and eval_seconds must be > 0")
        for k in ("segment_seconds", "eval_seconds"):
            if getattr(self, k) > self.model.max_seconds:
                raise ValueError(f"{k}={getattr(self, k)} exceeds model.max_seconds={self.model.max_seconds}")
        if not self.eval_quantizers:
            raise ValueError("eval_quantizers must list at least one number of levels to evaluate")
        check_source_weights(self.source_weights, "source_weights")
        for k in self.eval_quantizers:
            if not 1 <= k <= self.model.num_quantizers:
                raise ValueError(f"eval_quantizers entries must be in [1, {self.model.num_quantizers}], got {k}")
        return self


def check_clip(c, name: str) -> np.ndarray:
    """A non-empty finite float [T] clip in [-1, 1] -> a float32 copy (ValueError naming `name` otherwise)."""
    c = np.asarray(c)
    if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.floating):
        raise ValueError(f"{name} must be a non-empty float waveform [T], got {c.dtype} {c.shape}")
    if not np.all(np.isfinite(c)) or np.abs(c).max() > 1:
        raise ValueError(f"{name} must be finite with values in [-1, 1]")
    return c.astype(np.float32)


def check_clips(clips: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    """Non-empty list of finite float [T] clips in [-1, 1] -> float32 copies."""
    if len(clips) == 0:
        raise ValueError(f"{name} is empty; expected at least one float32 [T] waveform")
    return [check_clip(c, f"{name}[{i}]") for i, c in enumerate(clips)]


def crop_transform(segment: int, min_gain: float):
    """(clip [T], rng) -> {"wave": float32 [segment]}: a random crop (preferring crops that are not near-silent)
    at a random gain in [min_gain, 1] x (0.95 / clip peak), zero-padded when the clip is shorter."""

    def transform(clip, rng: np.random.Generator) -> dict:
        c = check_clip(clip, "training clip")
        peak = max(float(np.abs(c).max()), 1e-4)
        for _ in range(4):
            start = int(rng.integers(max(1, len(c) - segment + 1)))
            piece = c[start:start + segment]
            if np.sqrt(np.mean(piece ** 2)) > 0.02 * peak:
                break
        out = np.zeros(segment, np.float32)
        out[:len(piece)] = np.clip(piece * (rng.uniform(min_gain, 1.0) * 0.95 / peak), -1, 1)
        return {"wave": out}

    return transform


def reconstruct(tok: AudioTokenizer, clips: list[np.ndarray], levels: Sequence[int], batch_size: int = 32
                ) -> tuple[dict[int, list[np.ndarray]], np.ndarray]:
    """Round trips of every clip with each k in `levels`, and the level-0 codes of all frames.

    Clips are zero-padded to one length (one compiled shape) and encoded once with max(levels); the
    first k levels of an RVQ code are exactly its k-level code, so each k only needs a decode.
    """
    t = max(len(c) for c in clips)
    t = -(-t // tok.hop) * tok.hop
    kmax = max(levels)
    batch_size = min(batch_size, len(clips))
    out: dict[int, list[np.ndarray]] = {k: [] for k in levels}
    level0 = []
    for s in range(0, len(clips), batch_size):
        part = clips[s:s + batch_size]
        x = np.zeros((batch_size, t), np.float32)
        for i, c in enumerate(part):
            x[i, :len(c)] = c
        ids = tok.encode(x, num_quantizers=kmax)
        frames = ids.shape[1] // kmax
        level0.extend(ids[i, :tok.num_frames(len(c))] for i, c in enumerate(part))
        for k in levels:
            y = tok.decode(ids[:, :k * frames])
            out[k].extend(y[i, :len(c)] for i, c in enumerate(part))
    return out, np.concatenate(level0)


def clip_metrics(refs: list[np.ndarray], ests: list[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Mean mel distance and SI-SNR over clips (each compared at its own length)."""
    md = [float(mel_distance(r[None], e[None], sample_rate)[0]) for r, e in zip(refs, ests)]
    ss = [float(si_snr(r[None], e[None])[0]) for r, e in zip(refs, ests)]
    return {"mel_distance": float(np.mean(md)), "si_snr": float(np.mean(ss))}


def evaluate(tok: AudioTokenizer, clips: list[np.ndarray], levels: Sequence[int]) -> dict[str, float]:
    """Held-out mel distance / SI-SNR at each number of levels, plus level-0 code usage."""
    recons, level0 = reconstruct(tok, clips, levels)
    out: dict[str, float] = {}
    for k in levels:
        m = clip_metrics(clips, recons[k], tok.sample_rate)
        out.update({f"mel_distance@{k}": m["mel_distance"], f"si_snr@{k}": m["si_snr"]})
    out["code_usage@0"] = float(len(np.unique(level0)) / tok.codebook_size)
    return out


def compare_to_baseline(tok: AudioTokenizer, clips: list[np.ndarray], k: int) -> dict:
    """Codec at k levels vs the classical baseline at >= the same bits, on the same clips."""
    return compare_levels(tok, clips, (k,))[0]


def compare_levels(tok: AudioTokenizer, clips: list[np.ndarray], levels: Sequence[int]) -> list[dict]:
    """`compare_to_baseline` for several k with one encode: a list of rows, one per k."""
    recons, _ = reconstruct(tok, clips, levels)
    seconds = sum(len(c) for c in clips) / tok.sample_rate
    rows = []
    for k in levels:
        ours = clip_metrics(clips, recons[k], tok.sample_rate)
        base, bits, names = [], 0, set()
        for c in clips:
            y, b, name = baseline_roundtrip(c, tok.sample_rate, tok.bits_per_second(k))
            base.append(y)
            bits += b
            names.add(name)
        theirs = clip_metrics(clips, base, tok.sample_rate)
        rows.append({"levels": k, "bits_per_s": tok.bits_per_second(k), **ours,
                     "baseline": sorted(names), "baseline_bits_per_s": bits / seconds,
                     "baseline_mel_distance": theirs["mel_distance"], "baseline_si_snr": theirs["si_snr"],
                     "beats_baseline_mel": ours["mel_distance"] < theirs["mel_distance"],
                     "seconds": seconds, "clips": len(clips)})
    return rows


@TRAINERS.register("audio", config=AudioTrainConfig)
def train(job: AudioTrainConfig, train_clips: Sequence[np.ndarray], eval_clips: Sequence[np.ndarray],
          out_dir: str | pathlib.Path, progress: bool = True, until: int | None = None,
          baseline: bool = True) -> dict:
    """Fits the codec on 16 kHz float clips (a sequence: corpus field, list), streamed through grain; saves
    the tokenizer to out_dir and writes eval.json; returns the report (or the run's result if stopped early)."""
    job.validate()
    out_dir = pathlib.Path(out_dir)
    check_clip(first_items(train_clips, 1, "training clips")[0], "train_clips[0]")
    eval_clips = check_clips(first_items(eval_clips, job.eval_items, "held-out clips"), "eval_clips")
    sr = job.model.sample_rate
    short = [c[:int(job.eval_seconds * sr)] for c in eval_clips]
    tok = AudioTokenizer(job.model, model=nnx.eval_shape(lambda: AudioCodec(job.model)))
    init = lambda: AudioCodec(job.model)  # noqa: E731
    if job.init_from:
        init = start_from(job.init_from, job.model)

    def final(t, result):
        report = {"step": result["step"], "train_seconds": result["seconds"],
                  "held_out": evaluate(t, eval_clips, job.eval_quantizers)}
        if baseline:
            report["vs_baseline"] = compare_levels(t, eval_clips, job.eval_quantizers)
        return report

    loss, critics = training_losses(job)
    result = fit("audio", job, tok, loss, train_clips,
                 crop_transform(int(job.segment_seconds * sr), job.min_gain), out_dir,
                 evaluate=lambda t: evaluate(t, short, job.eval_quantizers), final=final,
                 init=init, critics=critics, progress=progress, until=until)
    return result.get("report", result)


def start_from(folder: str | pathlib.Path, model: AudioCodecConfig):
    """An init() for the fit that builds the codec with the weights saved in `folder` (ValueError when that
    tokenizer's codec settings differ from `model`, or the folder holds no audio tokenizer)."""
    try:
        saved = AudioTokenizer.load(folder)
    except (ValueError, OSError) as e:
        raise ValueError(f"init_from={str(folder)!r}: {e}") from None
    if dataclasses.asdict(saved.model.cfg) != dataclasses.asdict(model):
        raise ValueError(f"init_from={str(folder)!r} holds a codec with other settings than the job's `model` "
                         f"section; expected {dataclasses.asdict(model)}, got {dataclasses.asdict(saved.model.cfg)}")
    graphdef, state = nnx.split(saved.model)
    return lambda: nnx.merge(graphdef, state)


def training_losses(job: AudioTrainConfig):
    """(codec loss, critic parts or None) of a fit of `job`: the reconstruction losses alone, or with
    discriminators when `job.adversarial` is on (`adversarial_parts`)."""
    return adversarial_parts(job) if job.adversarial.enabled else (codec_loss, None)


def adversarial_parts(job: AudioTrainConfig):
    """(generator loss, {"disc": Part}) for a fit with discriminators: within each step the discriminators take
    a hinge step on real crops vs the codec's current reconstructions, then the codec steps on its reconstruction
    losses plus the adversarial and feature-matching terms against the updated discriminators."""
    adv = job.adversarial

    def disc_loss(models, batch, key):
        wave = batch["wave"]
        fake = jax.lax.stop_gradient(models["model"](wave, key, train=True)[0])
        d = models["disc"]
        loss = discriminator_loss(d(wave), d(fake))
        return loss, {"hinge": loss}

    def gen_loss(model, batch, key, models):
        return codec_loss(model, batch, key, models["disc"], adv)

    critic = Part(init=lambda: Discriminators(adv, seed=job.model.seed + 1), loss=disc_loss)
    return gen_loss, {"disc": critic}
