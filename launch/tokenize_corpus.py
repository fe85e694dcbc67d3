"""Tokenizes the corpus (or a TFDS dataset named in the config) once into token shards; training reads those.

    python launch/tokenize_corpus.py --config demo [key=value ...] [--splits train,validation] [--overwrite]

Reads data.corpus_dir (or data.tfds_name with data.tfds_features), loads the tokenizers under
data.tokenizer_dir and writes data.token_dir. Resumable: rerunning skips finished shards.
"""
from __future__ import annotations

import argparse
import json
import sys

from absl import flags

from omni.config import cli_load_config
from omni.data.tokenize import tokenize_corpus


def main(argv=None) -> int:
    flags.FLAGS.mark_as_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="config path or name (default: demo)")
    ap.add_argument("--splits", default="train,validation", help="comma-separated splits to tokenize")
    ap.add_argument("--overwrite", action="store_true", help="start over even if token_dir holds other tokens")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. data.token_dir=runs/x)")
    a = ap.parse_args(argv)
    cfg = cli_load_config(a.config, a.overrides)
    splits = tuple(s for s in a.splits.split(",") if s)
    report = tokenize_corpus(cfg, splits, overwrite=a.overwrite, progress=not a.no_progress)
    if a.json:
        print(json.dumps(report))
    else:
        for split, r in report.items():
            rate = r["examples"] / r["seconds"] if r["seconds"] else 0.0
            print(f"{split}: {r['examples']} examples in {r['shards']} shards ({r['resumed_shards']} resumed), "
                  f"skipped {r['skipped'] or 'none'}, {r['seconds']:.1f}s ({rate:.0f} examples/s) "
                  f"-> {cfg.data.token_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
