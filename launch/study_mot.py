"""MoT vs dense at equal FLOPs per token on the demo corpus, over a grid of model sizes:
`python launch/study_mot.py [--sizes 0.1M,0.5M,2M] [--steps N | SIZE=N,...] [key=value ...]`.

For each size (model overrides of the config, `omni.study.SIZES`) both variants train on the same data, seed
and steps (resumable) under OUT/<size>/, by default to 20 tokens per active parameter (the computed step
counts are printed first; `--steps N` overrides every size, `--steps 2M=500` one). Then OUT/report.json:
{"grid": [{"size", "active_params", "tokens_per_param", "modality", "steps_fraction", "time_fraction",
"dense_final_loss", "mot_final_loss", "dense_best_loss", "mot_best_loss"}], "crossover": {...},
"<modality>": {...the largest size's pair}, "probes": [{"size", "probe", "dense", "mot", "baseline", ...}]
(`--probes N`: every run's final checkpoint exported to its run dir's bundle/ and probed on N held-out examples
per family; 16 by default), "_meta"}
and OUT/study_mot.png (held-out loss vs tokens per active parameter).

`--sizes config` runs the single pair at the config's own model shape (the study before the grid: steps from
`steps=N`, eval cadence from the overrides). `--plan` prints the per-size plan and exits; `--estimate K`
times K steps of every size and variant and prints the projected grid wall-clock on this machine.
"""
import argparse
import sys

from omni.cli import absl_flags_parsed
from omni.config import ConfigError, cli_load_config, exit_config_error
from omni.study import estimate_grid, grid_plan, parse_sizes, parse_steps, run_grid, run_study, summary_table

if __name__ == "__main__":
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--out", default="runs/study_mot")
    ap.add_argument("--sizes", default="0.1M,0.5M,2M", help="comma-separated size names, or 'config'")
    ap.add_argument("--steps", default=None, help="steps for every size (N) or per size (SIZE=N,...); "
                                                   "default: 20 tokens per active parameter")
    ap.add_argument("--tokens-per-param", type=float, default=20.0)
    ap.add_argument("--evals", type=int, default=10, help="held-out evaluations per run")
    ap.add_argument("--probes", type=int, default=16, metavar="N",
                    help="the grid: capability probes of every run's final checkpoint on N held-out examples per "
                         "family (0: none)")
    ap.add_argument("--plan", action="store_true", help="print the per-size plan and exit")
    ap.add_argument("--estimate", type=int, default=0, metavar="K",
                    help="time K steps of each size and variant, print the projected grid wall-clock, exit")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. train.eval_batches=4)")
    a = ap.parse_args()
    cfg = cli_load_config(a.config, ["train.eval_every=50", "train.eval_batches=8", *a.overrides])
    if a.sizes == "config":
        if a.steps is not None:
            cfg = cli_load_config(a.config, ["train.eval_every=50", "train.eval_batches=8", *a.overrides,
                                             f"steps={a.steps}"])
        report = run_study(cfg, a.out, progress=not a.no_progress)
        print(summary_table(report))
        sys.exit(0)
    try:
        if a.probes < 0:
            raise ConfigError(f"--probes: expected a number of held-out examples >= 0; got {a.probes}")
        if a.probes > 0 and cfg.data.source != "tokens":
            raise ConfigError(f"--probes: the runs must train on token shards with tokenizers (data.source=tokens), "
                              f"not {cfg.data.source!r}; pass --probes 0 to skip the probes")
        if a.tokens_per_param <= 0:
            raise ConfigError(f"--tokens-per-param: expected a positive number; got {a.tokens_per_param}")
        sizes = parse_sizes(a.sizes)
        steps = parse_steps(a.steps, sizes)
        plan = grid_plan(cfg, sizes, steps, a.evals, a.tokens_per_param)
    except ConfigError as e:
        exit_config_error(e)
    for e in plan:
        print(f"{e['size']:>5}: {e['active_params']:>10,} active params, {e['steps']:>6} steps, "
              f"{e['tokens_per_param']:.1f} tokens/param")
    if a.plan:
        sys.exit(0)
    if a.estimate > 0:
        est = estimate_grid(a.config, ["train.eval_batches=8", *a.overrides], plan, a.estimate)
        for r in est["sizes"]:
            print(f"{r['size']:>5}: dense {r['dense_step_s']:.3f} s/step ({r['dense_cpu_s']:.3f} CPU s), "
                  f"MoT {r['mot_step_s']:.3f} s/step ({r['mot_cpu_s']:.3f} CPU s), "
                  f"{r['steps']} steps each -> {r['projected_s'] / 60:.1f} min")
        print(f"projected grid wall-clock on this machine (its load now): {est['total_s'] / 60:.1f} min")
        sys.exit(0)
    report = run_grid(cfg, a.out, sizes, steps, evals=a.evals, tokens_per_param=a.tokens_per_param,
                      probes=a.probes, progress=not a.no_progress)
    print(summary_table(report))
    sys.exit(0)
