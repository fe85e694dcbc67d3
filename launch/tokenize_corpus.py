"""Tokenizes the corpus (or a TFDS dataset named in the config) once into token shards; training reads those.

    python launch/tokenize_corpus.py --config demo [key=value ...] [--splits train,validation] [--overwrite]

Reads data.corpus_dir (or data.tfds_name with data.tfds_features), loads the tokenizers under
data.tokenizer_dir and writes data.token_dir. Resumable: rerunning skips finished shards. On several
processes (launch/tpu_pod.sh / launch/slurm_gpu.sbatch --entry tokenize_corpus, or JAX_* variables) each
process writes a disjoint set of shards, encoding batches split over its local devices (--devices);
the shards are byte-identical to a 1-process, 1-device run.
"""
from __future__ import annotations

import argparse
import json
import sys

from omni.cli import absl_flags_parsed
from omni.config import cli_load_config
from omni.data.tokenize import tokenize_corpus
from omni.train import distributed


def main(argv=None) -> int:
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="config path or name (default: demo)")
    ap.add_argument("--splits", default="train,validation", help="comma-separated splits to tokenize")
    ap.add_argument("--overwrite", action="store_true", help="start over even if token_dir holds other tokens")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object (per process)")
    ap.add_argument("--devices", type=int, default=0,
                    help="local devices each process encodes on (0: all; data.tokenize_batch_size items each)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. data.token_dir=runs/x)")
    a = ap.parse_args(argv)
    cfg = cli_load_config(a.config, a.overrides)  # a bad config exits 2 before any process starts JAX
    distributed.initialize()  # several processes: each tokenizes its own shards
    splits = tuple(s for s in a.splits.split(",") if s)
    try:
        report = tokenize_corpus(cfg, splits, overwrite=a.overwrite, progress=not a.no_progress and
                                 distributed.is_main(), devices=a.devices)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:  # every process prints its own report (its shards)
        print(json.dumps(report))
    elif not distributed.is_main():
        return 0
    else:
        for split, r in report.items():
            rate = r["examples"] / r["seconds"] if r["seconds"] else 0.0
            print(f"{split}: {r['examples']} examples in {r['shards']} shards ({r['resumed_shards']} resumed), "
                  f"skipped {r['skipped'] or 'none'}, {r['seconds']:.1f}s ({rate:.0f} examples/s) "
                  f"-> {cfg.data.token_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
