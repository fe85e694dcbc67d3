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

Issue #14 (judges nobody here wrote, omni/eval/judges.py): audio STOI / PESQ-WB / recogniser WER per RVQ level
count on transcribed held-out speech by voice family, beside Codec2 1200 / 700C and Opus (lowest working
bitrate, 6000) at measured bit/s; `image.fullres` against full-resolution WebP at matched bits; `image.unseen`
and `video.unseen` on photos outside the corpus (omni/bench/_heldout.py); `video.colour` (dominant channel kept);
`--plot PATH` writes the rate-distortion PNG (docs/tokenizers.md).
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import time

import jax
import numpy as np
from omni_tokenizers.audio import baseline as audio_baseline
from omni_tokenizers.audio.train import compare_to_baseline, reconstruct
from omni_tokenizers.core.data import corpus_media, to_float
from omni_tokenizers.image import baseline as image_baseline
from omni_tokenizers.image.metrics import frames_psnr, psnr, ssim
from omni_tokenizers.registry import load_all, load_tokenizer

from omni.bench import BENCHMARKS
from omni.bench import _heldout as heldout
from omni.config import load_config
from omni.data.corpus.debian import DebianCache, DebianError
from omni.data.corpus.spec import CorpusConfig
from omni.eval import judges, metrics

WEBP_QUALITIES = (0, 5, 10, 25, 50, 75)


def _throughput(fn, batch, repeats: int = 3) -> float:
    """Items per second of fn(batch) after one warm-up call (includes host<->device transfer)."""
    jax.block_until_ready(fn(batch))
    t = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(batch))
    return repeats * len(batch) / (time.perf_counter() - t)


def reconstruct_images(tok, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """float [N, H, W, 3] in [0, 1] -> the tokenizer's round trip (same shape, unclipped)."""
    grid = (x.shape[1] // tok.downsample, x.shape[2] // tok.downsample)
    return np.concatenate([np.asarray(tok.decode(tok.encode(x[i:i + batch]), grid=grid))
                           for i in range(0, len(x), batch)])


def colour_kept(x: np.ndarray, recon: np.ndarray) -> dict[str, float]:
    """judges.colour_kept over all items' pixels: the fraction of dominant-channel pixels that keep it."""
    return judges.colour_kept(x, np.clip(recon, 0.0, 1.0))


def webp_curve(images: np.ndarray, qualities: tuple[int, ...] = WEBP_QUALITIES, codec: str = "webp") -> list[dict]:
    """Full-resolution WebP at fixed qualities: mean payload bits, PSNR and SSIM per quality (the R-D curve)."""
    x = to_float(images)
    rows = []
    for q in qualities:
        dec, bits = zip(*[image_baseline.roundtrip(im, q, codec) for im in images])
        y = to_float(np.stack(dec))
        rows.append({"quality": int(q), "bits": float(np.mean(bits)), "psnr": float(np.mean(psnr(x, y))),
                     "ssim": float(np.mean(ssim(x, y)))})
    return rows


def bench_image(tok, images: np.ndarray, codec: str = "webp", batch: int = 64) -> dict:
    """images: uint8 [N, H, W, 3] held-out."""
    x = to_float(images)
    recon = reconstruct_images(tok, x, batch)
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
            "baseline_fullres_quality_mean": float(np.mean(quality)), "colour_kept": colour_kept(x, recon),
            "items": len(x)}


def bench_fullres(tok, images: np.ndarray, preset: str, codec: str = "webp", batch: int = 64) -> dict:
    """A tokenizer vs full-resolution WebP at matched bits: WebP's lowest quality reaching the learned bits
    (its floor, quality 0, when the learned bits are below it), no downscaling."""
    x = to_float(images)
    recon = reconstruct_images(tok, x, batch)
    bits = tok.tokens_per_item(x.shape[1:]) * math.log2(tok.vocab_size)
    full, full_bits, quality = zip(*[image_baseline.at_bits(im, bits, codec) for im in images])
    floor = [image_baseline.roundtrip(im, 0, codec)[1] for im in images]
    full = to_float(np.stack(full))
    return {"preset": preset, "psnr": float(np.mean(psnr(x, recon))), "ssim": float(np.mean(ssim(x, recon))),
            "bits": float(bits), "webp_psnr": float(np.mean(psnr(x, full))),
            "webp_ssim": float(np.mean(ssim(x, full))), "webp_bits": float(np.mean(full_bits)),
            "webp_quality_mean": float(np.mean(quality)), "webp_floor_bits": float(np.mean(floor)),
            "items": len(x)}


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
            "baseline_fullres_bits_per_item": float(np.sum(full_bits) / n), "colour_kept": colour_kept(x, recon),
            "items": n}


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


def wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus word error rate (omni.eval.metrics.wer) over the clips whose reference has words."""
    pairs = [(r, h) for r, h in zip(refs, hyps) if metrics.words(r)]
    if not pairs:
        raise ValueError("WER needs at least one non-empty reference transcript")
    return metrics.wer([r for r, _ in pairs], [h for _, h in pairs])


def _nanmean(v) -> float:
    v = np.asarray(v, np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _clip_scores(refs: list[np.ndarray], ests: list[np.ndarray], sample_rate: int) -> dict[str, list]:
    """Per clip: STOI, wide-band PESQ and the recogniser's transcript of the estimate."""
    return {"stoi": [judges.stoi(r, e, sample_rate) for r, e in zip(refs, ests)],
            "pesq_wb": [judges.pesq_wb(r, e, sample_rate) for r, e in zip(refs, ests)],
            "heard": [judges.transcribe(e, sample_rate) for e in ests]}


def _summary(per: dict[str, list], texts: list[str], wer_original: float, idx=None) -> dict:
    """NaN-skipping mean STOI (`stoi_clips`: how many clips it could judge) and PESQ-WB, corpus WER of the
    clips `idx` (all when None)."""
    idx = range(len(texts)) if idx is None else idx
    st = [per["stoi"][i] for i in idx]
    return {"stoi": _nanmean(st), "stoi_clips": int(np.isfinite(st).sum()),
            "pesq_wb": _nanmean([per["pesq_wb"][i] for i in idx]),
            "wer": wer([texts[i] for i in idx], [per["heard"][i] for i in idx]), "wer_original": wer_original}


def speech_scores(refs: list[np.ndarray], ests: list[np.ndarray], texts: list[str], sample_rate: int,
                  wer_original: float) -> dict:
    """Mean STOI and wide-band PESQ (NaN-skipping) of ests vs refs, recogniser WER of ests vs texts."""
    return _summary(_clip_scores(refs, ests, sample_rate), texts, wer_original)


def classical_round_trips(name: str, clips: list[np.ndarray], sr: int, codec2=None, opus_low: int | None = None
                          ) -> tuple[list[np.ndarray], dict]:
    """One classical baseline over the clips: (reconstructions, rate facts incl. measured bits_per_second)."""
    seconds = sum(len(c) for c in clips) / sr
    if name.startswith("codec2_"):
        mode = {"codec2_1200": "1200", "codec2_700c": "700C"}[name]
        ys, bits = zip(*[codec2.roundtrip(c, sr, mode) for c in clips])
        facts = {"setting": f"codec2 {mode}, 8 kHz", "bits_nominal_per_second": audio_baseline.CODEC2_MODES[mode],
                 "bits_measured": "bit-file size (whole bytes per 40 ms frame)"}
    else:
        rate = opus_low if name == "opus_lowest" else int(name.split("_")[1])
        ys, bits = zip(*[audio_baseline.opus_roundtrip(c, sr, rate) for c in clips])
        facts = {"setting": f"opus -b:a {rate} voip {audio_baseline.FRAME_MS} ms", "bitrate_setting": rate,
                 "bits_measured": "Opus packet payload (Ogg framing and headers excluded)"}
    return list(ys), {"bits_per_second": float(sum(bits) / seconds), **facts}


BASELINES = ("codec2_1200", "codec2_700c", "opus_lowest", "opus_6000")


def bench_speech(tok, speech: list[dict], levels: int, baselines: tuple[str, ...] = BASELINES,
                 cache: str | pathlib.Path | None = None) -> dict:
    """Transcribed held-out speech (heldout.speech_clips): STOI, PESQ-WB, recogniser WER and bit/s at every
    level count (`by_levels`), the headline at `levels`, the classical baselines, and per voice family."""
    sr = tok.sample_rate
    clips = [s["audio"] for s in speech]
    texts = [s["text"] for s in speech]
    heard = [judges.transcribe(c, sr) for c in clips]
    wer_original = wer(texts, heard)
    ks = list(range(1, tok.num_quantizers + 1))
    recons, _ = reconstruct(tok, clips, ks)
    levels = min(levels, tok.num_quantizers)
    per = {k: _clip_scores(clips, recons[k], sr) for k in ks}
    by_levels = {str(k): {**_summary(per[k], texts, wer_original), "bits_per_second": float(tok.bits_per_second(k))}
                 for k in ks}
    out = dict(by_levels[str(levels)])
    out.update({"by_levels": by_levels, "speech_clips": len(clips),
                "speech_seconds": float(sum(len(c) for c in clips) / sr),
                "bits_per_second_kind": "exact: frames/s x levels x log2(codebook) (fixed-rate codes)"})
    base: dict = {}
    codec2 = None
    if any(b.startswith("codec2_") for b in baselines):
        cache_dir = pathlib.Path(cache) if cache is not None else CorpusConfig().cache / "debian"
        try:
            codec2 = audio_baseline.Codec2.from_debian(DebianCache(cache_dir))
        except (DebianError, FileNotFoundError) as e:
            raise ValueError(f"codec2 baselines need Debian's codec2 in {cache_dir} ({e}); pass --cache or "
                             f"--baselines without codec2") from None
    opus_low = None
    if "opus_lowest" in baselines:
        opus_low = audio_baseline.opus_lowest_bitrate(clips, sr)
    for b in baselines:
        ys, facts = classical_round_trips(b, clips, sr, codec2, opus_low)
        base[b] = {**speech_scores(clips, ys, texts, sr, wer_original), **facts}
    out["baselines"] = base
    fam: dict = {}
    for f in sorted({s["family"] for s in speech}):
        idx = [i for i, s in enumerate(speech) if s["family"] == f]
        orig = wer([texts[i] for i in idx], [heard[i] for i in idx])
        fam[f] = {"clips": len(idx), **_summary(per[levels], texts, orig, idx)}
    out["by_family"] = fam
    return out


def _heldout(modality: str, data: str, limit: int):
    return corpus_media(data, "validation", modality, limit)


def plot(result: dict, path: str | pathlib.Path) -> pathlib.Path:
    """Rate-distortion PNG from a bench result: image PSNR/SSIM vs bits (tokenizers beside WebP qualities),
    audio STOI/PESQ-WB vs bit/s (each level count beside codec2 and Opus)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    panels = [p for p in (("image", "psnr"), ("image", "ssim"), ("audio", "stoi"), ("audio", "pesq_wb"))
              if p[0] in result]
    if not panels:
        raise ValueError("the bench result has neither an image nor an audio entry to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (m, metric) in zip(axes[0], panels):
        r = result[m]
        if m == "image":
            curve = r.get("webp_curve", [])
            ax.plot([c["bits"] for c in curve], [c[metric] for c in curve], "o-", color="grey",
                    label="WebP full res (q " + ",".join(str(c["quality"]) for c in curve) + ")")
            learned = r["learned"] if metric == "psnr" else r["learned_ssim"]
            ax.plot([r["bits_per_item"]], [learned], "s", color="C0", ms=8, label="tokenizer (demo preset)")
            base = r["baseline"] if metric == "psnr" else r["baseline_ssim"]
            ax.plot([r["baseline_bits_per_item"]], [base], "x", color="grey", ms=8, label="WebP downscaled")
            u = r.get("unseen")
            if u is not None:
                ax.plot([u["bits_per_item"]], [u["learned"] if metric == "psnr" else u["learned_ssim"]], "s",
                        mfc="none", color="C0", ms=8, label="tokenizer, unseen photos")
                ax.plot([u["baseline_bits_per_item"]], [u["baseline"] if metric == "psnr" else u["baseline_ssim"]],
                        "+", color="grey", ms=9, label="WebP downscaled, unseen photos")
            fr = r.get("fullres")
            if fr is not None and fr["preset"] == "image_fullres":
                ax.plot([fr["bits"]], [fr[metric]], "D", color="C1", ms=8, label=f"tokenizer ({fr['preset']})")
            ax.set_xlabel("bits per 64x64 image")
        else:
            lv = sorted(r["by_levels"].items(), key=lambda kv: int(kv[0]))
            ax.plot([v["bits_per_second"] for _, v in lv], [v[metric] for _, v in lv], "s-", color="C0",
                    label="codec, levels " + ",".join(k for k, _ in lv))
            for i, (name, b) in enumerate(sorted(r.get("baselines", {}).items())):
                ax.plot([b["bits_per_second"]], [b[metric]], "o^v<>"[i % 5], color=f"C{i + 1}", ms=8, label=name)
            ax.set_xscale("log")
            ax.set_xlabel("bit/s (measured payload)")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_ylabel(metric)
        ax.set_title(f"{m}: {metric} (held out)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _speech_count(v: str) -> int:
    n = int(v)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive clip count, got {v}")
    return n


@BENCHMARKS.register("tokenizers")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py tokenizers")
    ap.add_argument("--dir", default="runs/demo/tokenizers", help="folder with text/ image/ audio/ video/ "
                    "(and image_fullres/ when trained)")
    ap.add_argument("--data", default="runs/demo/corpus", help="corpus data_dir (validation split is used)")
    ap.add_argument("--items", type=int, default=128, help="held-out items per modality (text: 4x)")
    ap.add_argument("--audio-levels", type=int, default=None,
                    help="RVQ levels for audio (default: data.audio_quantizers of configs/demo.py)")
    ap.add_argument("--modalities", default="text,image,audio,video")
    ap.add_argument("--speech-clips", type=_speech_count, default=30,
                    help="transcribed held-out speech clips (round-robin over voice families) for STOI/PESQ/WER")
    ap.add_argument("--baselines", default=",".join(BASELINES), help=f"audio baselines among {BASELINES} ('' none)")
    ap.add_argument("--cache", default=None, help="Debian .deb cache for codec2 and the unseen photos "
                    "(default: the corpus config's cache/debian)")
    ap.add_argument("--unseen-images", type=int, default=32, help="64x64 crops of photos outside the corpus (0: off)")
    ap.add_argument("--unseen-videos", type=int, default=16, help="pan/zoom clips over those photos (0: off)")
    ap.add_argument("--plot", default=None, help="write the rate-distortion PNG here")
    ap.add_argument("--from-json", default=None, help="only plot (--plot) this saved `--json` result; no measuring")
    a = ap.parse_args(argv)
    if a.from_json is not None:
        if a.plot is None:
            raise ValueError("--from-json only plots: pass --plot PATH too")
        src = pathlib.Path(a.from_json)
        if not src.is_file():
            raise ValueError(f"--from-json {src} is not a file: expected a saved `bench.py tokenizers --json` output")
        result = json.loads(src.read_text())
        plot(result, a.plot)
        return result
    baselines = tuple(b for b in a.baselines.split(",") if b)
    if not set(baselines) <= set(BASELINES):
        raise ValueError(f"--baselines must name among {BASELINES}, got {a.baselines!r}")
    if not pathlib.Path(a.data).is_dir():
        raise ValueError(f"corpus not found at {a.data}: pass --data (the held-out split is read from it)")
    if not pathlib.Path(a.dir).is_dir():
        raise ValueError(f"tokenizer folder not found at {a.dir}: pass --dir (a folder with text/ image/ audio/ "
                         f"video/)")
    toks = load_all(a.dir)
    if not toks:
        raise ValueError(f"no tokenizers under {a.dir}; train them with launch/train_tokenizer.py")
    cache_dir = pathlib.Path(a.cache) if a.cache else CorpusConfig().cache / "debian"
    out: dict = {}
    wanted = [m for m in a.modalities.split(",") if m in toks]
    unseen = {}
    for m in wanted:
        tok = toks[m]
        if m == "image":
            images = _heldout(m, a.data, a.items)
            out[m] = bench_image(tok, images)
            out[m]["webp_curve"] = webp_curve(images)
            full_dir = pathlib.Path(a.dir) / "image_fullres"
            if (full_dir / "config.json").is_file():
                out[m]["fullres"] = bench_fullres(load_tokenizer(full_dir), images, "image_fullres")
            else:
                out[m]["fullres"] = bench_fullres(tok, images, "image (demo preset; no image_fullres/ trained)")
            if a.unseen_images > 0:
                unseen["image"] = heldout.unseen_images(DebianCache(cache_dir), a.unseen_images)
                out[m]["unseen"] = bench_image(tok, unseen["image"])
                out[m]["unseen"]["set"] = f"{a.unseen_images} 64x64 crops of {heldout.UNSEEN_PACKAGE} photos"
        elif m == "video":
            out[m] = bench_video(tok, _heldout(m, a.data, a.items))
            if a.unseen_videos > 0:
                clips = heldout.unseen_videos(DebianCache(cache_dir), a.unseen_videos)
                out[m]["unseen"] = bench_video(tok, clips)
                out[m]["unseen"]["set"] = f"{a.unseen_videos} pan/zoom clips over {heldout.UNSEEN_PACKAGE} photos"
        elif m == "text":
            out[m] = bench_text(tok, _heldout(m, a.data, 4 * a.items))
        elif m == "audio":
            levels = a.audio_levels
            if levels is None:
                levels = load_config("demo").data.audio_quantizers
            out[m] = bench_audio(tok, _heldout(m, a.data, a.items), levels)
            out[m].update(bench_speech(tok, heldout.speech_clips(a.data, a.speech_clips), levels, baselines,
                                       cache_dir))
        out[m]["beats_baseline"] = bool(
            (out[m]["learned"] > out[m]["baseline"] if out[m]["higher_is_better"]
             else out[m]["learned"] < out[m]["baseline"])
            or (m == "text" and out[m]["learned"] >= out[m]["baseline"]))
        out[m]["at_equal_or_fewer_bits"] = bool(out[m]["bits_per_item"] <= out[m]["baseline_bits_per_item"])
    if "video" in out:
        colour = {"video": out["video"]["colour_kept"], "source": "held-out corpus validation split"}
        if "image" in out:
            colour["image"] = out["image"]["colour_kept"]
        if "unseen" in out["video"]:
            colour["video_unseen"] = out["video"]["unseen"]["colour_kept"]
        out["video"]["colour"] = colour
    if a.plot is not None:
        plot(out, a.plot)
    return out
