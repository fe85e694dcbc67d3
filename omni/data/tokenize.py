"""Corpus -> token shards: runs the trained tokenizers once, batched, resumable shard by shard, on N processes.

Shard i of a split holds corpus examples [i * shard_size, (i + 1) * shard_size) in order; process p of N
writes the shards i with i % N == p, each atomically with its own done file, so killing any process and
rerunning redoes only unfinished shards, and the shards do not depend on N. With `devices`, each process
encodes batches split over its local devices (`batch_size` items per device). Media are
encoded in fixed-shape batches (the batch axis padded to `batch_size`) so each shape compiles once;
audio clips are grouped into 0.5 s length buckets, zero-padded to the bucket and cut back to their
exact frame count (`tokens_per_item`); a codec with a wide receptive field may code the last few
frames of a clip slightly differently than when it is encoded alone (trailing silence vs its own pad).
Examples whose media fail to convert, whose text the tokenizer refuses, or that have no content are
skipped and counted per reason in the manifest.
"""
from __future__ import annotations

import hashlib
import json
import math
import pathlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from omni_tokenizers.registry import load_all
from tqdm import tqdm

from omni.data import token_shards as ts
from omni.data.corpus import open_corpus
from omni.data.corpus.spec import media_shapes
from omni.data.tfds_source import open_dataset, open_tfds

MEDIA = ("image", "audio", "video")


def tokenizer_digests(tokenizer_dir, modalities) -> dict[str, str]:
    """sha256 (16 hex) over every file of each saved tokenizer: config, weights, SentencePiece model."""
    out = {}
    for m in sorted(modalities):
        h = hashlib.sha256()
        for f in sorted(p for p in (pathlib.Path(tokenizer_dir) / m).rglob("*") if p.is_file()):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        out[m] = h.hexdigest()[:16]
    return out


def token_meta(tokenizers: dict[str, Any], image_shape, video_shape, source: str,
               digests: dict[str, str] | None = None) -> dict[str, Any]:
    """meta.json contents: local codes per modality, fixed token lengths, audio levels, provenance."""
    digests = digests or {m: f"{type(t).__name__}:{t.vocab_size}" for m, t in tokenizers.items()}
    meta: dict[str, Any] = {"codes": {m: int(t.vocab_size) for m, t in tokenizers.items()},
                            "fixed_lengths": {}, "audio": {}, "source": source,
                            "tokenizers": dict(sorted(digests.items()))}
    if "image" in tokenizers:
        meta["fixed_lengths"]["image"] = int(tokenizers["image"].tokens_per_item(tuple(image_shape)))
    if "video" in tokenizers:
        meta["fixed_lengths"]["video"] = int(tokenizers["video"].tokens_per_item(tuple(video_shape)))
    if "audio" in tokenizers:
        a = tokenizers["audio"]
        k = int(a.num_quantizers)
        meta["audio"] = {"num_quantizers": k, "codebook_size": int(a.vocab_size) // k,
                         "sample_rate": int(getattr(a, "sample_rate", 16000))}
    return meta


def _encode_texts(tok, texts: list[str], skipped: Counter) -> list:
    """Batch encode; if the tokenizer refuses the batch, one by one (refused texts: None, `bad_text`)."""
    if not texts:
        return []
    try:
        return list(tok.encode(texts))
    except ValueError:
        out = []
        for t in texts:
            try:
                out.append(tok.encode([t])[0])
            except ValueError:
                skipped["bad_text"] += 1
                out.append(None)
        return out


def _encode_fixed(tok, items: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """uint8 media of one shape -> token arrays, in batches padded to `batch_size`."""
    out = []
    for i in range(0, len(items), batch_size):
        chunk = np.stack(items[i:i + batch_size]).astype(np.float32) / 255.0
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], np.float32)])
        ids = np.asarray(tok.encode(chunk))
        out.extend(ids[j].astype(np.int32) for j in range(n))
    return out


def _encode_audio(tok, clips: list[np.ndarray], batch_size: int, bucket: int) -> list[np.ndarray]:
    """float32 clips [T] -> [levels, frames] each, batched by padded-length bucket."""
    k = int(tok.num_quantizers)
    out: list[np.ndarray | None] = [None] * len(clips)
    buckets: dict[int, list[int]] = {}
    for i, c in enumerate(clips):
        buckets.setdefault(bucket * math.ceil(len(c) / bucket), []).append(i)
    for T, idx in sorted(buckets.items()):
        frames_padded = tok.tokens_per_item((T,)) // k
        for s in range(0, len(idx), batch_size):
            part = idx[s:s + batch_size]
            x = np.zeros((batch_size, T), np.float32)
            for row, i in enumerate(part):
                x[row, :len(clips[i])] = clips[i]
            ids = np.asarray(tok.encode(x)).reshape(batch_size, k, frames_padded)
            for row, i in enumerate(part):
                frames = tok.tokens_per_item((len(clips[i]),)) // k
                out[i] = ids[row, :, :frames].astype(np.int32)
    return out  # type: ignore[return-value]


def tokenize_examples(examples: Sequence[dict], tokenizers: dict[str, Any], *, batch_size: int,
                      audio_bucket: int = 8000, shapes: dict[str, tuple[int, ...]] | None = None
                      ) -> tuple[list[dict], Counter]:
    """Corpus example dicts -> token-shard example dicts (local ids), plus skip counts.

    Media of another shape than `shapes` (default: `media_shapes()`; audio: [T]) are dropped from
    their example and counted as `bad_<modality>_shape`.
    """
    shapes = media_shapes() if shapes is None else shapes
    skipped: Counter = Counter()
    out = [{"id": str(ex.get("id", "")), "source": str(ex.get("source", ""))} for ex in examples]
    if "text" in tokenizers:
        which = [i for i, ex in enumerate(examples) if str(ex.get("text", "")).strip()]
        for i, ids in zip(which, _encode_texts(tokenizers["text"], [str(examples[i]["text"]) for i in which],
                                               skipped)):
            if ids is not None:
                out[i]["text"] = np.asarray(ids, np.int32)
    for m in MEDIA:
        if m not in tokenizers:
            continue
        which = [i for i, ex in enumerate(examples) if np.asarray(ex.get(m, np.zeros(0))).size]
        ok = [i for i in which if (np.ndim(examples[i][m]) == 1 if m == "audio"
                                   else np.shape(examples[i][m]) == tuple(shapes[m]))]
        if len(ok) < len(which):
            skipped[f"bad_{m}_shape"] += len(which) - len(ok)
        which = ok
        if not which:
            continue
        items = [np.asarray(examples[i][m]) for i in which]
        if m == "audio":
            keep = [j for j, a in enumerate(items) if np.isfinite(a).all()]
            if len(keep) < len(items):
                skipped["non_finite_audio"] += len(items) - len(keep)
            which, items = [which[j] for j in keep], [np.clip(items[j], -1, 1).astype(np.float32) for j in keep]
            encoded = _encode_audio(tokenizers[m], items, batch_size, audio_bucket)
        else:
            encoded = _encode_fixed(tokenizers[m], items, batch_size)
        for i, ids in zip(which, encoded):
            out[i][m] = ids
    kept = []
    for ex in out:
        if any(k in ex and np.asarray(ex[k]).size for k in ("text",) + MEDIA):
            kept.append(ex)
        else:
            skipped["empty"] += 1
    return kept, skipped


def _check_meta(token_dir, meta: dict, overwrite: bool) -> None:
    p = pathlib.Path(token_dir) / ts.META_FILE
    if p.is_file() and not overwrite:
        old = ts.read_meta(token_dir)
        old = {k: v for k, v in old.items() if k not in ("format", "version")}
        if json.loads(json.dumps(old)) != json.loads(json.dumps(meta)):
            raise ValueError(f"{token_dir} holds tokens from other tokenizers or another corpus "
                             f"({p}); use a fresh token_dir or --overwrite")
    ts.write_meta(token_dir, meta)


def tokenize_split(source, tokenizers: dict[str, Any], token_dir, split: str, *, shard_size: int = 1024,
                   batch_size: int = 64, progress: bool = True, process_index: int = 0,
                   process_count: int = 1) -> dict[str, Any]:
    """Writes every unfinished shard of `split` that belongs to this process (i % process_count ==
    process_index); returns counts (examples, skipped per reason, shards, read vs encode seconds)."""
    n = len(source)
    shards = max(1, math.ceil(n / shard_size))
    manifest = ts.read_manifest(token_dir, split)
    done = {i for i in manifest["shards"] if i < shards}
    mine = [s for s in range(shards) if s % process_count == process_index]
    report = {"split": split, "corpus_examples": n, "shards": shards, "resumed_shards": len(done),
              "examples": 0, "skipped": Counter(), "seconds": 0.0, "read_seconds": 0.0, "encode_seconds": 0.0,
              "process_index": process_index, "process_count": process_count, "shards_written": 0,
              "examples_read": 0}
    t0 = time.perf_counter()
    size = lambda s: min(shard_size, n - s * shard_size)  # noqa: E731
    bar = tqdm(total=sum(size(s) for s in mine), initial=sum(size(s) for s in mine if s in done), unit="ex",
               desc=f"tokenize {split}", disable=not progress)
    for s in mine:
        if s in done:
            continue
        lo, hi = s * shard_size, min((s + 1) * shard_size, n)
        examples, skipped = [], Counter()
        t = time.perf_counter()
        for i in range(lo, hi):
            try:
                examples.append(source[i])
            except ValueError:  # media that cannot be converted (e.g. a broken TFDS image)
                skipped["bad_media"] += 1
        t1 = time.perf_counter()
        tokens, sk = tokenize_examples(examples, tokenizers, batch_size=batch_size)
        report["read_seconds"] += t1 - t
        report["encode_seconds"] += time.perf_counter() - t1
        skipped.update(sk)
        ts.write_shard(token_dir, split, s, tokens, skipped=dict(skipped), of=shards)
        report["examples"] += len(tokens)
        report["examples_read"] += hi - lo
        report["shards_written"] += 1
        report["skipped"].update(skipped)
        bar.update(hi - lo)
    bar.close()
    if ts.read_manifest(token_dir, split)["done"]:
        ts.write_manifest(token_dir, split, ts.read_manifest(token_dir, split)["shards"])
    report["seconds"] = time.perf_counter() - t0
    report["skipped"] = dict(report["skipped"])
    return report


def shard_over_local_devices(tokenizers: dict[str, Any], devices: int | None, batch_size: int) -> int:
    """Splits each media tokenizer's encode over this process's first `devices` local devices (0: all);
    returns the per-call batch (batch_size per device)."""
    local = jax.local_devices()
    n = len(local) if not devices else int(devices)
    if not 1 <= n <= len(local):
        raise ValueError(f"devices must be in [1, {len(local)}] (this process's local devices), got {devices}")
    if n == 1:
        return batch_size
    mesh = Mesh(np.asarray(local[:n]), ("data",))
    for m, tok in tokenizers.items():
        if m in MEDIA and hasattr(tok, "shard"):
            tok.shard(mesh)
    return batch_size * n


def open_corpus_source(cfg, split: str):
    """The raw examples `tokenize_corpus` reads: a TFDS dataset if data.tfds_name is set, else the corpus."""
    if cfg.data.tfds_name:
        return open_tfds(cfg, split), f"tfds:{cfg.data.tfds_name}"
    return open_corpus(cfg.data.corpus_dir, split), f"corpus:{pathlib.Path(cfg.data.corpus_dir).resolve()}"


def tokenize_corpus(cfg, splits: Sequence[str] = ("train", "validation"), *, tokenizers=None,
                    overwrite: bool = False, progress: bool = True, devices: int | None = 1,
                    process_index: int | None = None, process_count: int | None = None) -> dict[str, Any]:
    """Tokenizes `splits` of the configured corpus into cfg.data.token_dir; returns per-split reports
    ({dataset: {split: report}} for a data.tfds_mixture, each dataset in token_dir/<name>).

    Several processes (jax.distributed) each take a disjoint set of shards; `devices` local devices per
    process (0: all) encode data.tokenize_batch_size items each per call. The shards are byte-identical
    whatever the number of processes and devices.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    if not cfg.data.token_dir:
        raise ValueError("data.token_dir must name the output folder for token shards")
    digests = None
    if tokenizers is None:
        tokenizers = load_all(cfg.data.tokenizer_dir)
        if not tokenizers:
            raise ValueError(f"no tokenizers under {cfg.data.tokenizer_dir}: expected text/, image/, audio/, "
                             "video/ folders written by launch/train_tokenizer.py")
        digests = tokenizer_digests(cfg.data.tokenizer_dir, tokenizers)
    vocab = cfg.vocab.build()
    for m, t in tokenizers.items():
        need = t.vocab_size if m != "audio" else (t.vocab_size // t.num_quantizers) * cfg.data.audio_quantizers
        if m in vocab.modalities and need > vocab.num_codes(m):
            raise ValueError(f"vocab.{m}={vocab.num_codes(m)} is smaller than the {m} tokenizer's {need} codes "
                             f"used in sequences; set vocab.{m} >= {need}")
    batch = shard_over_local_devices(tokenizers, devices, cfg.data.tokenize_batch_size)
    kw = dict(tokenizers=tokenizers, digests=digests, batch=batch, overwrite=overwrite, progress=progress,
              process_index=process_index, process_count=process_count)
    if cfg.data.tfds_mixture:  # each dataset into its own token_dir/<name> (the MoT samples them by weight)
        return {d.name: _tokenize_sources(cfg, pathlib.Path(cfg.data.token_dir) / d.name,
                                          {s: (open_dataset(d, s), f"tfds:{d.name}") for s in splits}, **kw)
                for d in cfg.data.tfds_mixture}
    return _tokenize_sources(cfg, cfg.data.token_dir, {s: open_corpus_source(cfg, s) for s in splits}, **kw)


def _tokenize_sources(cfg, token_dir, sources: dict, *, tokenizers, digests, batch, overwrite, progress,
                      process_index, process_count) -> dict[str, Any]:
    """Tokenizes {split: (source, description)} into `token_dir` (meta.json + shards of each split)."""
    shapes = media_shapes()
    splits = tuple(sources)
    desc = sorted({d for _, d in sources.values()})
    meta = token_meta(tokenizers, shapes["image"], shapes["video"], ",".join(desc), digests)
    if process_index == 0:
        _check_meta(token_dir, meta, overwrite)
        if overwrite:
            for split in splits:
                ts.clear_split(token_dir, split)
    if process_count > 1:  # nobody writes shards before process 0 has checked (and maybe cleared) the folder
        multihost_utils.sync_global_devices("omni-tokenize-start")
        if process_index != 0:
            _check_meta(token_dir, meta, False)
    reports = {split: tokenize_split(src, tokenizers, token_dir, split, shard_size=cfg.data.shard_size,
                                     batch_size=batch, progress=progress, process_index=process_index,
                                     process_count=process_count)
               for split, (src, _) in sources.items()}
    if process_count > 1:  # every shard is written when any process returns
        multihost_utils.sync_global_devices("omni-tokenize-end")
        for split in splits:
            if process_index == 0 and ts.read_manifest(token_dir, split)["done"]:
                ts.write_manifest(token_dir, split, ts.read_manifest(token_dir, split)["shards"])
    return reports
