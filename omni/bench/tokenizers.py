"""Tokenizers vs classical codecs: `python launch/bench.py tokenizers [--json] [--dir D] [--data C]`.

For each tokenizer under --dir (default runs/demo/tokenizers): tokens and bits per held-out item,
encode/decode items/s, and a reconstruction metric for the learned tokenizer and for a classical codec
at the same or more bits per item (image: WebP; video: WebP per frame; audio: Opus or mu-law; text:
raw UTF-8 bytes, both lossless). Held-out items are the corpus validation split (--data).

Image/video rate control: full-resolution WebP cannot code a 64x64 image (a 32x32 frame) in fewer than
~1250 (~580) payload bits, so the `baseline` is the WebP setting -- resolution (a bicubic downscale,
upscaled back) and quality -- whose bits are the fewest at or above the learned bits, the way the
audio baseline lowers its sample rate. `baseline_fullres` reports full-resolution WebP at its lowest
quality reaching the budget, which may spend several times the learned bits.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import time

import jax
import numpy as np
from omni_tokenizers.audio.train import compare_to_baseline
from omni_tokenizers.core.data import corpus_media, to_float
from omni_tokenizers.image import baseline as image_baseline
from omni_tokenizers.image.metrics import frames_psnr, psnr, ssim
from omni_tokenizers.registry import load_all

from omni.bench import BENCHMARKS
from omni.config import load_config


def _throughput(fn, batch, repeats: int = 3) -> float:
    """Items per second of fn(batch) after one warm-up call (includes host<->device transfer)."""
    jax.block_until_ready(fn(batch))
    t = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(batch))
    return repeats * len(batch) / (time.perf_counter() - t)


def bench_image(tok, images: np.ndarray, codec: str = "webp", batch: int = 64) -> dict:
    """images: uint8 [N, H, W, 3] held-out."""
    x = to_float(images)
    recon = np.concatenate([np.asarray(tok.decode(tok.encode(x[i:i + batch]),
                                                  grid=(x.shape[1] // tok.downsample, x.shape[2] // tok.downsample)))
                            for i in range(0, len(x), batch)])
    tokens = tok.tokens_per_item(x.shape[1:])
    bits = tokens * math.log2(tok.vocab_size)
    fulls = [image_baseline.at_bits(im, bits, codec) for im in images]
    base, base_bits, setting = zip(*[image_baseline.at_bits_rescaled(im, bits, codec, full=fr)
                                     for im, fr in zip(images, fulls)])
    full, full_bits, quality = zip(*fulls)
    full = to_float(np.stack(full))
    base = to_float(np.stack(base))
    b = x[:batch]
    ids = tok.encode(b)
    return {"metric": "psnr", "higher_is_better": True,
            "learned": float(np.mean(psnr(x, recon))), "baseline": float(np.mean(psnr(x, base))),
            "baseline_codec": f"{codec} (resolution and quality rate control)", "bits_per_item": bits,
            "baseline_bits_per_item": float(np.mean(base_bits)), "tokens_per_item": tokens,
            "encode_items_per_s": _throughput(tok.encode, b), "decode_items_per_s": _throughput(tok.decode, ids),
            "learned_ssim": float(np.mean(ssim(x, recon))), "baseline_ssim": float(np.mean(ssim(x, base))),
            "baseline_side_mean": float(np.mean([s for s, _ in setting])),
            "baseline_fullres": float(np.mean(psnr(x, full))), "baseline_fullres_ssim": float(np.mean(ssim(x, full))),
            "baseline_fullres_bits_per_item": float(np.mean(full_bits)),
            "baseline_fullres_quality_mean": float(np.mean(quality)), "items": len(x)}


def bench_video(tok, videos: np.ndarray, codec: str = "webp", batch: int = 16) -> dict:
    """videos: uint8 [N, F, H, W, 3] held-out; baseline codes each frame at >= the learned bits per frame."""
    x = to_float(videos)
    recon = np.concatenate([np.asarray(tok.decode_like(tok.encode(x[i:i + batch]), x.shape[1:]))
                            for i in range(0, len(x), batch)])
    tokens = tok.tokens_per_item(x.shape[1:])
    bits = tokens * math.log2(tok.vocab_size)
    n, f = videos.shape[:2]
    frames = videos.reshape((n * f,) + videos.shape[2:])
    fulls = [image_baseline.at_bits(im, bits / f, codec) for im in frames]
    base, base_bits, _ = zip(*[image_baseline.at_bits_rescaled(im, bits / f, codec, full=fr)
                               for im, fr in zip(frames, fulls)])
    full, full_bits, _ = zip(*fulls)
    full = to_float(np.stack(full)).reshape(x.shape)
    base = to_float(np.stack(base)).reshape(x.shape)
    b = x[:batch]
    ids = tok.encode(b)
    learned = frames_psnr(x, recon)
    return {"metric": "psnr", "higher_is_better": True,
            "learned": float(np.mean(learned)), "baseline": float(np.mean(frames_psnr(x, base))),
            "baseline_codec": f"{codec} per frame (resolution and quality rate control)", "bits_per_item": bits,
            "baseline_bits_per_item": float(np.sum(base_bits) / n), "tokens_per_item": tokens,
            "encode_items_per_s": _throughput(tok.encode, b),
            "decode_items_per_s": _throughput(lambda i: tok.decode_like(i, x.shape[1:]), ids),
            "learned_psnr_first_frame": float(np.mean(learned[:, 0])),
            "baseline_fullres": float(np.mean(frames_psnr(x, full))),
            "baseline_fullres_bits_per_item": float(np.sum(full_bits) / n), "items": n}


def bench_text(tok, texts: list[str]) -> dict:
    """Lossless both ways: exact round-trip rate and bits per item vs raw UTF-8 bytes (8 bits/byte)."""
    texts = [t for t in texts if t]
    ids = tok.encode(texts)
    exact = float(np.mean([a == b for a, b in zip(texts, tok.decode(ids))]))
    n_tok = np.array([len(i) for i in ids], np.float64)
    n_bytes = np.array([len(t.encode("utf-8")) for t in texts], np.float64)
    t0 = time.perf_counter()
    ids = tok.encode(texts)
    enc = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    tok.decode(ids)
    dec = len(texts) / (time.perf_counter() - t0)
    return {"metric": "roundtrip_exact", "higher_is_better": True, "learned": exact, "baseline": 1.0,
            "baseline_codec": "utf8 bytes", "bits_per_item": float(np.mean(n_tok) * math.log2(tok.vocab_size)),
            "baseline_bits_per_item": float(np.mean(n_bytes) * 8), "tokens_per_item": float(np.mean(n_tok)),
            "encode_items_per_s": enc, "decode_items_per_s": dec,
            "bytes_per_token": float(n_bytes.sum() / max(n_tok.sum(), 1)), "items": len(texts)}


def bench_audio(tok, clips: list[np.ndarray], levels: int) -> dict:
    """The audio codec at `levels` RVQ levels vs Opus/mu-law at >= its bits (mel distance, lower is better)."""
    levels = min(levels, tok.num_quantizers)
    r = compare_to_baseline(tok, clips, levels)
    seconds_per_item = r["seconds"] / max(r["clips"], 1)
    sr = tok.sample_rate
    seg = np.stack([np.pad(c, (0, max(0, sr - len(c))))[:sr] for c in clips[:16]])  # 1 s crops
    ids = tok.encode(seg, num_quantizers=levels)
    return {"metric": "mel_distance", "higher_is_better": False, "learned": r["mel_distance"],
            "baseline": r["baseline_mel_distance"], "baseline_codec": ",".join(r["baseline"]),
            "bits_per_item": r["bits_per_s"] * seconds_per_item,
            "baseline_bits_per_item": r["baseline_bits_per_s"] * seconds_per_item,
            "tokens_per_item": float(tok.tokens_per_item(int(round(seconds_per_item * sr)), levels)),
            "encode_items_per_s": _throughput(lambda b: tok.encode(b, num_quantizers=levels), seg),
            "decode_items_per_s": _throughput(lambda i: tok.decode(i, num_quantizers=levels), ids),
            "learned_si_snr": r["si_snr"], "baseline_si_snr": r["baseline_si_snr"], "levels": levels,
            "seconds_per_item": seconds_per_item, "items": r["clips"], "throughput_item": "1 s clip"}


def _heldout(modality: str, data: str, limit: int):
    return corpus_media(data, "validation", modality, limit)


@BENCHMARKS.register("tokenizers")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py tokenizers")
    ap.add_argument("--dir", default="runs/demo/tokenizers", help="folder with text/ image/ audio/ video/")
    ap.add_argument("--data", default="runs/demo/corpus", help="corpus data_dir (validation split is used)")
    ap.add_argument("--items", type=int, default=128, help="held-out items per modality (text: 4x)")
    ap.add_argument("--audio-levels", type=int, default=None,
                    help="RVQ levels for audio (default: data.audio_quantizers of configs/demo.py)")
    ap.add_argument("--modalities", default="text,image,audio,video")
    a = ap.parse_args(argv)
    if not pathlib.Path(a.data).exists():
        raise ValueError(f"corpus not found at {a.data}: pass --data (the held-out split is read from it)")
    toks = load_all(a.dir)
    if not toks:
        raise ValueError(f"no tokenizers under {a.dir}; train them with launch/train_tokenizer.py")
    out: dict = {}
    wanted = [m for m in a.modalities.split(",") if m in toks]
    for m in wanted:
        tok = toks[m]
        if m == "image":
            out[m] = bench_image(tok, _heldout(m, a.data, a.items))
        elif m == "video":
            out[m] = bench_video(tok, _heldout(m, a.data, a.items))
        elif m == "text":
            out[m] = bench_text(tok, _heldout(m, a.data, 4 * a.items))
        elif m == "audio":
            levels = a.audio_levels
            if levels is None:
                levels = load_config("demo").data.audio_quantizers
            out[m] = bench_audio(tok, _heldout(m, a.data, a.items), levels)
        out[m]["beats_baseline"] = bool(
            (out[m]["learned"] > out[m]["baseline"] if out[m]["higher_is_better"]
             else out[m]["learned"] < out[m]["baseline"])
            or (m == "text" and out[m]["learned"] >= out[m]["baseline"]))
        out[m]["at_equal_or_fewer_bits"] = bool(out[m]["bits_per_item"] <= out[m]["baseline_bits_per_item"])
    return out
