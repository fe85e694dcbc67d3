"""Build orchestration: each source -> stage file (cached by key), then all stages -> TFDS `omni_corpus`."""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from typing import Any

from tqdm.auto import tqdm

from omni.data.corpus.debian import DebianCache, licenses_in
from omni.data.corpus.reader import DATASET
from omni.data.corpus.schema import split_of
from omni.data.corpus.skips import Skip, SkipCounter, unexpected
from omni.data.corpus.source import Context, as_list, load_source, source_names
from omni.data.corpus.spec import CorpusConfig
from omni.data.corpus.stage import Stage, code_digest, stage_key

log = logging.getLogger(__name__)


def _package_info(ctx: Context, packages) -> dict[str, Any]:
    info = {}
    for p in packages:
        ctx.debs.root(p)
        info[p] = {"version": ctx.debs.version(p), "licenses": licenses_in(ctx.debs.copyright(p))}
    return info


def build_source(name: str, ctx: Context, progress: bool = True) -> Stage:
    """Run one source into its stage file, or reuse the finished stage with the same key."""
    src = load_source(name)
    cfg = ctx.cfg
    packages = _package_info(ctx, src.packages)  # fetched first: their versions are part of the key
    settings = {**src.settings(cfg), "media": dataclasses.asdict(cfg.media),
                "validation_per_mille": cfg.validation_per_mille,
                "packages": {p: v["version"] for p, v in packages.items()}}
    stage = Stage(cfg.cache / "corpus_stage", name, stage_key(name, src.version, settings, code_digest(src.module)))
    if stage.done():
        log.info("%s: reusing %s", name, stage.records)
        return stage
    t0 = time.time()
    skips, ctx.notes = SkipCounter(), collections.Counter()
    splits: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    ids: set[str] = set()
    cands = list(src.candidates(ctx))

    def run(c):
        try:
            return as_list(c.make())
        except Skip as s:
            return s
        except Exception as e:  # noqa: BLE001 -- one item's failure never stops the build: counted, named, logged
            return unexpected(e)

    def examples():
        with cf.ThreadPoolExecutor(max(cfg.workers, 1)) as pool:
            for c, made in tqdm(zip(cands, pool.map(run, cands)), total=len(cands), desc=f"{name:>14s}",
                                unit="item", disable=not progress, mininterval=1.0):
                if isinstance(made, Skip):
                    skips.add(made, c.what)
                    continue
                new = [ex["id"] for ex in made]
                bad = [i for k, (i, ex) in enumerate(zip(new, made))
                       if i in ids or i in new[:k] or ex["source"] != name]
                if bad:
                    skips.add(Skip("bad_example_id", f"ids {bad} repeat earlier ones or name another source"), c.what)
                    continue
                for ex in made:
                    ids.add(ex["id"])
                    splits[split_of(ex["item"], cfg.validation_per_mille)] += 1
                    kinds["+".join(k for k in ("image", "audio", "video") if ex[f"has_{k}"]) or "text"] += 1
                    yield ex

    def summary() -> dict[str, Any]:  # called once every example is written; the summary file commits the stage
        stage.skips_path.write_text("".join(json.dumps(r) + "\n" for r in skips.log))
        return {"source": name, "version": src.version, "license": src.license, "packages": packages,
                "settings": settings, "candidates": len(cands), "skipped": skips.as_dict(),
                "skip_examples": dict(skips.examples), "skip_log": stage.skips_path.name, "notes": dict(ctx.notes),
                "splits": dict(splits), "kinds": dict(kinds), "seconds": round(time.time() - t0, 1)}

    stage.write(examples(), summary)
    for old in stage.dir.glob(f"{name}-*"):  # stages of older settings or code are never read again
        if old not in (stage.records, stage.summary_path, stage.items_path, stage.skips_path):
            old.unlink()
    return stage


def build_corpus(cfg: CorpusConfig, ctx: Context | None = None, progress: bool = True) -> dict[str, Any]:
    """Build (incrementally) every configured source and the TFDS dataset; returns the metadata dict."""
    cfg.validate()
    t0 = time.time()
    ctx = ctx or Context(cfg, DebianCache(cfg.cache / "debian"))
    names = cfg.sources or source_names()
    stages = [build_source(n, ctx, progress) for n in names]
    keys = json.dumps([s.key for s in stages] + [cfg.validation_per_mille])
    corpus_key = hashlib.sha1(keys.encode()).hexdigest()[:12]
    summaries = {s.source: s.summary() for s in stages}
    metadata = {
        "corpus_key": corpus_key,
        "media": dataclasses.asdict(cfg.media),
        "validation_per_mille": cfg.validation_per_mille,
        "sources": summaries,
        "licenses": {n: s["license"] for n, s in summaries.items()},
        "skipped": {n: s["skipped"] for n, s in summaries.items() if s["skipped"]},
        "counts": {n: s["examples"] for n, s in summaries.items()},
        "splits": dict(sum((collections.Counter(s["splits"]) for s in summaries.values()), collections.Counter())),
    }
    version_dir = cfg.out / DATASET / "1.0.0"
    meta_path = version_dir / "metadata.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("corpus_key") == corpus_key:
        log.info("corpus %s unchanged (key %s)", version_dir, corpus_key)
        return json.loads(meta_path.read_text())
    shutil.rmtree(version_dir, ignore_errors=True)
    _write_tfds(cfg, [str(s.records) for s in stages], metadata)
    written = json.loads(meta_path.read_text())
    written["build_seconds"] = round(time.time() - t0, 1)  # this run: reused stages cost nothing
    meta_path.write_text(json.dumps(written, indent=1, sort_keys=True))
    return written


def _write_tfds(cfg: CorpusConfig, stage_files: list[str], metadata: dict[str, Any]):
    # heavy (TFDS, TensorFlow): only writing the corpus needs them, not staging sources
    import tensorflow_datasets as tfds

    from omni.data.builders.omni_corpus import OmniCorpus  # imports TFDS at module level

    splits = [s for s in OmniCorpus.SPLITS if metadata["splits"].get(s, 0) > 0]
    if not splits:
        raise CorpusError("the corpus has no examples: every source was empty or skipped (see the stage summaries)")
    cap = _shuffle_in_memory()
    builder = OmniCorpus(data_dir=str(cfg.out), file_format="array_record", stage_files=stage_files,
                         validation_per_mille=cfg.validation_per_mille, corpus_metadata=metadata, splits=splits)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS))
    except ModuleNotFoundError as e:
        if e.name != "tensorflow":
            raise
        raise CorpusError(f"a split of the corpus is larger than the in-memory shuffle cap ({cap / 2**30:.2f} GiB: "
                          f"half this machine's memory or TFDS's 1 GB, the larger) and TFDS shuffles larger ones on "
                          f"disk only with TensorFlow: "
                          f"install tensorflow-cpu, or build fewer examples (e.g. --numbers-max, --motion-clips)"
                          ) from None


class CorpusError(ValueError):
    """A corpus that cannot be written as configured (the CLI's one-line error, exit 2)."""


def _shuffle_in_memory(share: float = 0.5) -> int:
    """Lets TFDS shuffle a split of up to `share` of this machine's memory in memory (returns the byte cap). Past its
    default 1 GB, TFDS's shuffler spills to temporary files through `tf.io.gfile`, which needs TensorFlow, not a
    dependency here: a trial of the built-in corpus with 17% more spoken numbers (61 voices) crossed 1 GB."""
    from tensorflow_datasets.core import shuffle

    shuffle.MAX_MEM_BUFFER_SIZE = max(shuffle.MAX_MEM_BUFFER_SIZE, int(_machine_memory() * share))
    return shuffle.MAX_MEM_BUFFER_SIZE


def _machine_memory() -> int:
    """Physical memory in bytes; 0 where sysconf cannot say (not POSIX), which keeps TFDS's own cap."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
