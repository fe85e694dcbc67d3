"""One config trained at several seeds, its capability probes pooled over them:
`python launch/study_seeds.py [--config demo] [--seeds 0,1,2] [--probes 100] [--out runs/study_seeds] [key=value ...]`.

A single training run's probe figures move by 0.2-0.3 between seeds of the demo config (README, "Capability
probes"), more than most changes tried on it, so a recipe is judged here over seeds. Each seed (model
initialisation and data order) trains under OUT/seed<k> (resumable; the config's steps and data), its final
checkpoint is exported to OUT/seed<k>/bundle and judged by every capability probe on N held-out examples per
family (`omni.eval.run.probe_figures`, kept in OUT/seed<k>/probes.json and reused while the steps and N match).
Then OUT/report.json: {"probes": [{"probe", "metric", "higher_is_better", "baseline", "n", "values" {seed: value},
"mean", "std", "pooled", "ci95"}], "_meta"}, where "pooled" is the ratio over every seed's examples together and
"ci95" its two-level bootstrap interval (seeds, then examples within each), and the same as a table on stdout.
"""
import argparse
import sys

from omni.cli import absl_flags_parsed
from omni.config import ConfigError, cli_load_config, exit_config_error
from omni.study import parse_seeds, run_seeds, seeds_table

if __name__ == "__main__":
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--out", default="runs/study_seeds")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (two or more)")
    ap.add_argument("--probes", type=int, default=100, metavar="N",
                    help="held-out examples per probe family (the colour family has 23 in the demo corpus)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. steps=480)")
    a = ap.parse_args()
    cfg = cli_load_config(a.config, a.overrides)
    try:
        seeds = parse_seeds(a.seeds)
        if a.probes <= 0:
            raise ConfigError(f"--probes: expected a number of held-out examples >= 1; got {a.probes}")
        if cfg.data.source != "tokens":
            raise ConfigError(f"the runs must train on token shards with tokenizers (data.source=tokens) for the "
                              f"probes, not {cfg.data.source!r}")
    except ConfigError as e:
        exit_config_error(e)
    report = run_seeds(cfg, a.out, seeds, a.probes, progress=not a.no_progress)
    print(seeds_table(report))
    sys.exit(0)
