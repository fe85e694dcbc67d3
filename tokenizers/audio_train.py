"""Training and held-out evaluation of the audio tokenizer (presets in configs/tokenizers_audio.py).

Batches are random fixed-length crops of the training clips with a random gain; held-out metrics are
mel distance and SI-SNR of whole clips at each evaluated number of levels, optionally next to the
classical baseline codec at >= the same bits (omni_tokenizers.audio_baseline).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence

import jax
import numpy as np
from omni_tokenizers.audio import AudioTokenizer
from omni_tokenizers.audio_baseline import baseline_roundtrip
from omni_tokenizers.audio_codec import AudioCodecConfig, codec_loss
from omni_tokenizers.audio_losses import mel_distance, si_snr
from omni_tokenizers.training import TrainLoopConfig, fit


@dataclasses.dataclass
class AudioTrainConfig:
    """Codec + optimizer + data settings for one audio tokenizer fit."""

    model: AudioCodecConfig = dataclasses.field(default_factory=AudioCodecConfig)
    train: TrainLoopConfig = dataclasses.field(default_factory=TrainLoopConfig)
    segment_seconds: float = 1.0       # training crop length
    min_gain: float = 0.3              # random gain in [min_gain, 1] x (0.95 / clip peak)
    eval_items: int = 24               # held-out clips for periodic and final metrics
    eval_seconds: float = 4.0          # periodic evals use the first eval_seconds of each clip
    eval_quantizers: tuple[int, ...] = (2, 4)

    def validate(self) -> AudioTrainConfig:
        self.model.validate()
        self.train.validate()
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
        for k in self.eval_quantizers:
            if not 1 <= k <= self.model.num_quantizers:
                raise ValueError(f"eval_quantizers entries must be in [1, {self.model.num_quantizers}], got {k}")
        return self


def check_clips(clips: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    """Non-empty list of finite float [T] clips in [-1, 1] -> float32 copies."""
    if len(clips) == 0:
        raise ValueError(f"{name} is empty; expected at least one float32 [T] waveform")
    out = []
    for i, c in enumerate(clips):
        c = np.asarray(c)
        if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.floating):
            raise ValueError(f"{name}[{i}] must be a non-empty float waveform [T], got {c.dtype} {c.shape}")
        if not np.all(np.isfinite(c)) or np.abs(c).max() > 1:
            raise ValueError(f"{name}[{i}] must be finite with values in [-1, 1]")
        out.append(c.astype(np.float32))
    return out


def crop_batches(clips: list[np.ndarray], batch_size: int, segment: int, seed: int, min_gain: float):
    """step -> {"wave": float32 [B, segment], "key": PRNG key}; deterministic in (seed, step)."""
    peaks = [max(float(np.abs(c).max()), 1e-4) for c in clips]

    def data(step: int) -> dict:
        rng = np.random.default_rng((seed, step))
        out = np.zeros((batch_size, segment), np.float32)
        for b in range(batch_size):
            i = int(rng.integers(len(clips)))
            c = clips[i]
            for _ in range(4):  # prefer crops that are not near-silent
                start = int(rng.integers(max(1, len(c) - segment + 1)))
                piece = c[start:start + segment]
                if np.sqrt(np.mean(piece ** 2)) > 0.02 * peaks[i]:
                    break
            gain = rng.uniform(min_gain, 1.0) * 0.95 / peaks[i]
            out[b, :len(piece)] = np.clip(piece * gain, -1, 1)
        return {"wave": out, "key": jax.random.PRNGKey(rng.integers(2 ** 31))}

    return data


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


def train(job: AudioTrainConfig, train_clips: Sequence[np.ndarray], eval_clips: Sequence[np.ndarray],
          out_dir: str | pathlib.Path, progress: bool = True, until: int | None = None,
          baseline: bool = True) -> dict:
    """Fits the codec on 16 kHz float clips, saves the tokenizer to out_dir, writes eval.json."""
    job.validate()
    out_dir = pathlib.Path(out_dir)
    train_clips = check_clips(train_clips, "train_clips")
    eval_clips = check_clips(eval_clips, "eval_clips")[:job.eval_items]
    sr = job.model.sample_rate
    short = [c[:int(job.eval_seconds * sr)] for c in eval_clips]
    tok = AudioTokenizer(job.model)
    data = crop_batches(train_clips, job.train.batch_size, int(job.segment_seconds * sr), job.train.seed,
                        job.min_gain)

    def eval_fn(model):
        tok.refresh()
        return evaluate(tok, short, job.eval_quantizers)

    result = fit(tok.model, codec_loss, data, job.train, workdir=out_dir / "train", eval_fn=eval_fn,
                 progress=progress, desc="audio", until=until)
    tok.refresh()
    tok.save(out_dir)
    report = {"step": result["step"], "train_seconds": result["seconds"],
              "held_out": evaluate(tok, eval_clips, job.eval_quantizers)}
    if baseline:
        report["vs_baseline"] = compare_levels(tok, eval_clips, job.eval_quantizers)
    (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
    return report
