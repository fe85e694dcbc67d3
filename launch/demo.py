"""`make demo`: corpus -> tokenizers -> token shards -> train the demo MoT -> export -> evaluate + report.

    python launch/demo.py [--out runs/demo] [--only corpus,tokenizer,...]

Re-running reuses finished stages; interrupted training stages resume from their checkpoints.
"""
import argparse
import sys

from omni.cli import absl_flags_parsed
from omni.demo import run

if __name__ == "__main__":
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--only", default="", help="comma-separated stage names to run (default: all)")
    a = ap.parse_args()
    sys.exit(run(a.out, only=tuple(x for x in a.only.split(",") if x)))
