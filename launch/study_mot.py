"""MoT vs dense at equal FLOPs per token on the demo corpus: `python launch/study_mot.py [key=value ...]`.

Trains both variants (same data, seed, steps; resumable), then writes runs/study_mot/report.json
({"<modality>": {"steps_fraction", "time_fraction", "dense_final_loss", "mot_final_loss"}}) and a plot.
"""
import argparse
import sys

from omni.cli import absl_flags_parsed
from omni.config import cli_load_config
from omni.study import run_study, summary_table

if __name__ == "__main__":
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--out", default="runs/study_mot")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. steps=400 train.eval_every=50)")
    a = ap.parse_args()
    cfg = cli_load_config(a.config, ["train.eval_every=50", "train.eval_batches=8", *a.overrides])
    report = run_study(cfg, a.out, progress=not a.no_progress)
    print(summary_table(report))
    sys.exit(0)
