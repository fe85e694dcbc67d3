"""Peak memory of a tokenizer fit vs corpus size: streaming through grain keeps it flat.

    python launch/bench.py tokenizer_memory --json [--items 1000] [--steps 30] [--modality image]

Writes a synthetic on-disk corpus (the omni_corpus TFDS format) of N and 4N examples with 64x64 images
(or 9x32x32 clips), trains the `tiny` tokenizer preset on each through launch/train_tokenizer.py in a
fresh process, and reports that process's peak RSS. A fit that held the split in memory would grow by
the decoded media (N x 12 KiB per image) between the two.
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from omni.bench import BENCHMARKS
from omni.data.corpus import CorpusConfig, make_example
from omni.data.corpus.build import _write_tfds
from omni.data.corpus.stage import Stage

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

_CHILD = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    if e.code not in (0, None):
        raise
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_corpus(out: pathlib.Path, n: int, modality: str, seed: int = 0) -> pathlib.Path:
    """A corpus of `n` examples, each with one random image (64x64) or clip (9x32x32) and a caption."""
    rng = np.random.default_rng(seed)
    shape = (64, 64, 3) if modality == "image" else (9, 32, 32, 3)

    def examples():
        for i in range(n):
            yield make_example(id=f"m/{i}", source="mem", item=f"mem/item{i}", text=f"item {i}",
                               **{modality: rng.integers(0, 255, shape, dtype=np.uint8)})

    stage = Stage(out / "stage", "mem", f"k{n}")
    stage.write(examples(), lambda: {"license": "synthetic"})
    _write_tfds(CorpusConfig(out=out / "corpus", cache=out / "cache"), [str(stage.records)],
                {"corpus_key": f"mem{n}", "sources": {"mem": stage.summary()},
                 "splits": {"train": 1, "validation": 1}})
    return out / "corpus"


def fit_peak_rss(corpus: pathlib.Path, out: pathlib.Path, modality: str, steps: int) -> float:
    """Peak RSS (MiB) of a fresh process fitting the tiny tokenizer on `corpus` for `steps` steps."""
    cmd = [sys.executable, "-c", _CHILD, str(ROOT / "launch" / "train_tokenizer.py"), "--modality", modality,
           "--config", "tiny", "--data", str(corpus), "--out", str(out), "--no-progress", f"train.steps={steps}",
           "eval_items=8", "mesh.devices=1"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"tokenizer fit failed: {r.stderr[-2000:]}")
    kb = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("PEAK_RSS_KB")]
    return kb[-1] / 1024.0


@BENCHMARKS.register("tokenizer_memory")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py tokenizer_memory")
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--modality", default="image", choices=("image", "video"))
    a = ap.parse_args(argv)
    out: dict = {"modality": a.modality, "steps": a.steps, "peak_rss_mib": {}, "corpus_items": {}}
    item_bytes = 64 * 64 * 3 if a.modality == "image" else 9 * 32 * 32 * 3
    with tempfile.TemporaryDirectory(prefix="omni-bench-mem-") as tmp:
        for mult in (1, 4):
            d = pathlib.Path(tmp) / f"x{mult}"
            corpus = write_corpus(d, a.items * mult, a.modality)
            out["corpus_items"][f"{mult}x"] = a.items * mult
            out["peak_rss_mib"][f"{mult}x"] = round(fit_peak_rss(corpus, d / "tok", a.modality, a.steps), 1)
    out["growth_mib"] = round(out["peak_rss_mib"]["4x"] - out["peak_rss_mib"]["1x"], 1)
    out["media_mib_added"] = round(3 * a.items * item_bytes / 2 ** 20, 1)  # what a whole-split loader would add
    return out
