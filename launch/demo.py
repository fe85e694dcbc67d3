"""`make demo`: corpus -> tokenizers -> token shards -> train the demo MoT -> export -> evaluate + report.

    python launch/demo.py [--out runs/demo] [--only corpus,tokenizer,...] [--jobs 2] [--benchmarks]

Re-running reuses finished stages; interrupted training stages resume from their checkpoints. `--jobs N` runs up
to N stages whose inputs are ready at once (default 2: the tokenizers train side by side), each logging to
OUT/logs/<stage>.log; `--jobs 1` runs them one after another on this console. `--benchmarks` (`make demo-bench`)
adds the tokenizer benchmark and the fullres image tokenizer it measures, reusing the stages a plain run finished.
"""
import argparse
import sys

from omni.cli import absl_flags_parsed
from omni.demo import run

if __name__ == "__main__":
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--only", default="",
                    help="comma-separated stage names to run (default: all but the benchmark stages)")
    ap.add_argument("--jobs", type=int, default=2, help="stages run at once when their inputs are ready (>= 1)")
    ap.add_argument("--benchmarks", action="store_true",
                    help="also the benchmark stages (the tokenizer benchmark and the fullres fit it measures)")
    a = ap.parse_args()
    if a.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {a.jobs}")
    sys.exit(run(a.out, only=tuple(x for x in a.only.split(",") if x), jobs=a.jobs, benchmarks=a.benchmarks))
