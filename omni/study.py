"""MoT vs dense at equal FLOPs per token: train both on the same data/seed/steps, compare held-out curves.

For each target modality: the fraction of steps (and of training wall-clock) the MoT needs to reach the
dense model's final held-out loss, linearly interpolated between evaluations. The Mixture-of-Transformers
paper reports 55.8% of the dense FLOPs overall (7B Chameleon setting) and 37.2% for speech.

The grid (`run_grid`) repeats the pair at named model sizes (`SIZES`: model overrides whose active
parameters, as `omni.model.model_stats` counts them, are near the name), each trained to
`tokens_per_param` tokens per active parameter by default, and plots held-out loss against tokens per
active parameter for every size and modality.

The seeds study (`run_seeds`) trains one config at several seeds and pools its capability probes over them, with
an interval that holds the seed-to-seed spread (launch/study_seeds.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np

from omni import modality as mod
from omni.atomic import atomic_write_json
from omni.config import Config, ConfigError, apply_overrides
from omni.eval.generate import GenOptions
from omni.eval.metrics import nested_ratio_ci
from omni.eval.run import probe_figures
from omni.model import model_stats
from omni.sampling.export_run import export_run
from omni.sampling.targets import DEFAULT_BUDGET_RULE
from omni.train.loop import train
from omni.train.metrics import read_metrics

DENSE = ("model.untie_attention=false", "model.untie_ffn=false", "model.untie_norms=false")


def variants(cfg: Config, out: str) -> dict[str, Config]:
    """The two runs: identical but for the untie switches (same data, seed, steps, shapes)."""
    mot = apply_overrides(cfg, [f"run_dir={out}/mot", "model.untie_attention=true", "model.untie_ffn=true",
                                "model.untie_norms=true"])
    dense = apply_overrides(cfg, [f"run_dir={out}/dense", *DENSE])
    a, b = model_stats(mot), model_stats(dense)
    if abs(a.train_flops_per_token - b.train_flops_per_token) > 1e-6 * b.train_flops_per_token:
        raise ValueError(f"MoT and dense FLOPs per token differ: {a.train_flops_per_token} vs "
                         f"{b.train_flops_per_token}")
    return {"dense": dense, "mot": mot}


def curves(records: list[dict]) -> tuple[dict[str, list[tuple[int, float]]], dict[int, float]]:
    """(eval loss curve per modality [(step, loss)], cumulative training seconds at each logged step)."""
    evals: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        if r.get("kind") != "eval":
            continue
        for name in (*mod.names(), "all"):
            key = "eval/loss" if name == "all" else f"eval/loss/{name}"
            if key in r and np.isfinite(r[key]):
                evals.setdefault(name, []).append((int(r["step"]), float(r[key])))
    train = [r for r in records if r.get("kind") == "train"]
    times = [r["step_time_s"] for r in train if not r.get("includes_compile")]
    typical = float(np.median(times)) if times else 0.0
    cum, prev, clock = {0: 0.0}, 0, 0.0
    for r in train:  # compile time is excluded: a window that includes it counts at the typical step time
        n = int(r["step"]) - prev
        clock += n * (typical if r.get("includes_compile") else r["step_time_s"])
        prev = int(r["step"])
        cum[prev] = clock
    return evals, cum


def _time_at(cum: dict[int, float], step: float) -> float:
    steps = sorted(cum)
    return float(np.interp(step, steps, [cum[s] for s in steps]))


def first_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """The (interpolated) step where `curve` first gets to <= target, or None if it never does."""
    prev = None
    for step, loss in curve:
        if loss <= target:
            if prev is None or prev[1] == loss:
                return float(step)
            (s0, l0) = prev
            return float(s0 + (step - s0) * (l0 - target) / (l0 - loss))
        prev = (step, loss)
    return None


def compare(dense_records: list[dict], mot_records: list[dict]) -> dict:
    """Per modality (and "all"): steps/time fraction for the MoT to reach the dense final held-out loss, and each
    variant's best (lowest) held-out loss: a final loss above the best says the run overfits (the fraction then
    measures reaching a worse loss than dense's best, which a falling MoT curve can do early)."""
    d_eval, d_cum = curves(dense_records)
    m_eval, m_cum = curves(mot_records)
    out = {}
    for name, d_curve in d_eval.items():
        m_curve = m_eval.get(name)
        if not m_curve:
            continue
        d_final_step, d_final = d_curve[-1]
        hit = first_reach(m_curve, d_final)
        out[name] = {
            "dense_final_loss": d_final, "mot_final_loss": m_curve[-1][1],
            "dense_best_loss": min(v for _, v in d_curve), "mot_best_loss": min(v for _, v in m_curve),
            "steps_fraction": None if hit is None else hit / d_final_step,
            "time_fraction": None if hit is None else _time_at(m_cum, hit) / max(_time_at(d_cum, d_final_step),
                                                                                 1e-9),
            "reached": hit is not None, "steps": d_final_step,
        }
    return out


def plot(dense_records, mot_records, path: pathlib.Path):
    import matplotlib  # optional: only the figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional, as above
    d_eval, _ = curves(dense_records)
    m_eval, _ = curves(mot_records)
    names = [n for n in (*mod.names(), "all") if n in d_eval and n in m_eval]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
    for ax, n in zip(axes[0], names):
        for label, ev, style in (("dense", d_eval, "--"), ("MoT", m_eval, "-")):
            s, v = zip(*ev[n])
            ax.plot(s, v, style, label=label)
        ax.axhline(d_eval[n][-1][1], color="gray", lw=0.5)
        ax.set_title(f"{n}: held-out loss")
        ax.set_xlabel("step")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_study(cfg: Config, out: str, *, progress: bool = True) -> dict:
    """Trains (or resumes) both variants, then writes out/report.json and out/study_mot.png."""
    report, _ = _run_pair(cfg, out, progress)
    return report


def _run_pair(cfg: Config, out: str, progress: bool) -> tuple[dict, dict[str, list[dict]]]:
    runs = variants(cfg, out)
    for name, c in runs.items():
        print(f"[study_mot] training {name} -> {c.run_dir}", flush=True)
        if train(c, progress=progress).get("preempted"):
            raise SystemExit(f"[study_mot] {name} stopped by SIGTERM (checkpoint saved); run the same command "
                             "again to resume")
    recs = {k: read_metrics(c.run_dir) for k, c in runs.items()}
    report = compare(recs["dense"], recs["mot"])
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    plot(recs["dense"], recs["mot"], outp / "study_mot.png")
    atomic_write_json(outp / "report.json", {**report, "_meta": _meta(cfg, runs)}, indent=2)
    return report, recs


def _meta(cfg: Config, runs: dict[str, Config]) -> dict:
    return {"config": cfg.name, "steps": cfg.steps, "seed": cfg.seed,
            "flops_per_token": model_stats(runs["mot"]).train_flops_per_token,
            "params_total": {k: model_stats(c).total_params for k, c in runs.items()},
            "params_active": model_stats(runs["mot"]).active_params}


# ---- the grid: the pair at several model sizes --------------------------------------------------------------
# Named sizes -> model overrides. Active parameters (model_stats: blocks + output head, embedding row excluded)
# under the demo vocabulary (10,257 ids): 0.1M -> 105,532; 0.5M -> 502,928; 2M -> 2,002,432. The output head
# (d_model x vocab) is most of them at these widths, so the MoT (which unties the blocks only) changes a
# small share of each model: 3%, 18% and 34% of the active parameters sit in the blocks.
SIZES: dict[str, dict[str, int]] = {
    "0.1M": dict(d_model=10, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=8, d_ff=32),
    "0.5M": dict(d_model=40, n_layers=4, n_heads=4, n_kv_heads=2, head_dim=16, d_ff=128),
    "2M": dict(d_model=128, n_layers=4, n_heads=4, n_kv_heads=2, head_dim=32, d_ff=320),
}
GRID_KEYS = ("size", "active_params", "tokens_per_param", "modality", "steps_fraction", "time_fraction",
             "dense_final_loss", "mot_final_loss", "dense_best_loss", "mot_best_loss")


def parse_sizes(text: str) -> list[str]:
    """"0.1M,0.5M,2M" -> the names, each checked against SIZES (a bad name raises ConfigError)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in SIZES]
    if bad or not names:
        raise ConfigError(f"--sizes: expected a comma-separated list of {', '.join(SIZES)}; got {text!r}")
    return names


def parse_steps(text: str | None, sizes: list[str]) -> dict[str, int | None]:
    """--steps: one integer for every size, or SIZE=N,... per size (sizes left out get the default), or None."""
    out: dict[str, int | None] = {n: None for n in sizes}
    if text is None:
        return out
    try:
        if "=" not in text:
            out = {n: int(text) for n in sizes}
        else:
            for part in text.split(","):
                k, v = part.split("=", 1)
                if k.strip() not in out:
                    raise ValueError(k)
                out[k.strip()] = int(v)
    except ValueError:
        raise ConfigError(f"--steps: expected a positive integer or SIZE=N,... over sizes {sizes}; got {text!r}") \
            from None
    if any(v is not None and v <= 0 for v in out.values()):
        raise ConfigError(f"--steps: expected positive step counts; got {text!r}")
    return out


def size_config(cfg: Config, size: str) -> Config:
    """`cfg` with the model shape of the named size (vocabulary, data, batch and seq_len unchanged)."""
    return apply_overrides(cfg, [f"model.{k}={v}" for k, v in SIZES[size].items()])


def tokens_per_step(cfg: Config) -> int:
    return cfg.train.batch_size * cfg.train.seq_len * cfg.train.grad_accum


def default_steps(cfg: Config, tokens_per_param: float = 20.0) -> int:
    """Steps for `tokens_per_param` training tokens (positions) per active parameter at cfg's batch shape."""
    return math.ceil(tokens_per_param * model_stats(cfg).active_params / tokens_per_step(cfg))


def grid_plan(cfg: Config, sizes: list[str], steps: dict[str, int | None], evals: int = 10,
              tokens_per_param: float = 20.0) -> list[dict]:
    """One entry per size: {"size", "config" (the sized cfg with steps, eval and checkpoint cadence set),
    "active_params", "steps", "tokens_per_param"}. Held-out loss is evaluated `evals` times per run."""
    if evals <= 0:
        raise ConfigError(f"--evals: expected a positive number of evaluations per run; got {evals}")
    plan = []
    for size in sizes:
        c = size_config(cfg, size)
        n = steps.get(size) or default_steps(c, tokens_per_param)
        every = max(1, n // evals)
        c = apply_overrides(c, [f"steps={n}", f"train.eval_every={every}", f"checkpoint_every={every}",
                                f"train.log_every={min(every, c.train.log_every)}"])
        active = model_stats(c).active_params
        plan.append({"size": size, "config": c, "active_params": active, "steps": n,
                     "tokens_per_param": n * tokens_per_step(c) / active})
    return plan


def grid_rows(plan_entry: dict, report: dict) -> list[dict]:
    """The grid rows of one size: one per modality (and "all") of its pair's report."""
    rows = []
    for name, r in report.items():
        if name.startswith("_"):
            continue
        rows.append({"size": plan_entry["size"], "active_params": plan_entry["active_params"],
                     "tokens_per_param": plan_entry["tokens_per_param"], "modality": name,
                     "steps_fraction": r["steps_fraction"], "time_fraction": r["time_fraction"],
                     "dense_final_loss": r["dense_final_loss"], "mot_final_loss": r["mot_final_loss"],
                     "dense_best_loss": r["dense_best_loss"], "mot_best_loss": r["mot_best_loss"]})
    return rows


def crossover(rows: list[dict]) -> dict[str, str]:
    """Per modality, in words: at which size (smallest first) the MoT starts reaching dense's final loss
    sooner (steps fraction < 1) and stays so at every larger size, or that it never / always does."""
    out = {}
    for name in dict.fromkeys(r["modality"] for r in rows):
        seq = sorted((r for r in rows if r["modality"] == name), key=lambda r: r["active_params"])
        wins = [r["steps_fraction"] is not None and r["steps_fraction"] < 1.0 for r in seq]
        if all(wins):
            out[name] = f"MoT ahead at every size (from {seq[0]['size']})"
        elif not any(wins):
            out[name] = "MoT never ahead (no crossover in this grid)"
        else:
            first = next((i for i in range(len(wins)) if all(wins[i:])), None)
            out[name] = (f"crossover between {seq[first - 1]['size']} and {seq[first]['size']}" if first
                         else "mixed: MoT ahead at " + ", ".join(r["size"] for r, w in zip(seq, wins) if w))
    return out


def plot_grid(results: list[tuple[dict, dict[str, list[dict]]]], path: pathlib.Path) -> dict:
    """Held-out loss vs tokens per active parameter: one panel per modality (and "all"), one colour per
    size, dense dashed and MoT solid. Only eval loss keys are read. Returns the plotted series
    {(panel, label): (x, y)}."""
    import matplotlib  # optional: only the figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional, as above
    series: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for entry, recs in results:
        per_step = tokens_per_step(entry["config"]) / entry["active_params"]
        for variant, label in (("dense", "dense"), ("mot", "MoT")):
            ev, _ = curves(recs[variant])
            for name, curve in ev.items():
                series[(name, f"{entry['size']} {label}")] = ([s * per_step for s, _ in curve],
                                                               [v for _, v in curve])
    names = [n for n in (*mod.names(), "all") if any(k[0] == n for k in series)]
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(3.4 * max(len(names), 1), 3.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sizes = list(dict.fromkeys(e["size"] for e, _ in results))
    for ax, n in zip(axes[0], names):
        for (panel, label), (x, y) in series.items():
            if panel != n:
                continue
            size, variant = label.rsplit(" ", 1)
            ax.plot(x, y, "-" if variant == "MoT" else "--", color=colours[sizes.index(size) % len(colours)],
                    label=label)
        ax.set_xscale("log")
        ax.set_title(f"{n}: held-out loss")
        ax.set_xlabel("tokens per active parameter")
        ax.set_ylabel("loss (nats/token)")
    if names:
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return series


def probe_run(cfg: Config, limit: int, label: str) -> dict[str, dict]:
    """The capability probes (`omni.eval.run.probe_figures`, `limit` held-out examples per family of the config's
    corpus) of one run's final checkpoint, exported to <run dir>/bundle first -> {probe: figures}; kept in
    <run dir>/probes.json and reused while the run's steps, `limit` and the evaluation's decoding match."""
    path = pathlib.Path(cfg.run_dir) / "probes.json"
    options = GenOptions(batch=limit)
    # the decoding and the default length rule (omni.sampling.targets.default_budget): probes cached under others
    # are redone; compared as JSON keeps them (the (modality, value) pairs become lists)
    decoding = json.loads(json.dumps({**dataclasses.asdict(options), "default_budget": DEFAULT_BUDGET_RULE}))
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("steps") == cfg.steps and saved.get("limit") == limit and saved.get("decoding") == decoding:
            return saved["figures"]
    bundle = export_run(cfg.run_dir, pathlib.Path(cfg.run_dir) / "bundle", overwrite=True)
    figures = probe_figures(bundle, cfg.data.corpus_dir, limit, options)
    print(f"[study] probes of {label}: " + ", ".join(f"{p} {v['value']:.3f}" for p, v in figures.items()),
          flush=True)
    atomic_write_json(path, {"steps": cfg.steps, "limit": limit, "decoding": decoding, "figures": figures},
                      indent=2)
    return figures


def probe_pair(cfg: Config, out: str, limit: int) -> dict[str, dict]:
    """`probe_run` of both variants of the pair under `out` -> {variant: {probe: figures}}."""
    return {name: probe_run(c, limit, f"{out} {name}") for name, c in variants(cfg, out).items()}


def probe_rows(plan_entry: dict, figures: dict[str, dict]) -> list[dict]:
    """One row per probe of one size: both variants' values and 95% intervals beside the majority baseline."""
    rows = []
    for p, d in figures["dense"].items():
        m = figures["mot"][p]
        rows.append({"size": plan_entry["size"], "active_params": plan_entry["active_params"], "probe": p,
                     "metric": d["metric"], "higher_is_better": d["higher_is_better"], "n": d["n"],
                     "baseline": d["baseline"], "dense": d["value"], "mot": m["value"], "dense_ci95": d["ci95"],
                     "mot_ci95": m["ci95"]})
    return rows


def run_grid(cfg: Config, out: str, sizes: list[str], steps: dict[str, int | None] | None = None, *,
             evals: int = 10, tokens_per_param: float = 20.0, probes: int = 0, progress: bool = True) -> dict:
    """The pair at every size under out/<size>/ (each resumable, with its own report.json and plot), then
    out/report.json: {"grid": [rows], "crossover": {modality: words}, "<modality>": the largest size's
    pair (the single-pair keys), "probes": [rows] (with `probes` > 0: each size's capability probes on that many
    held-out examples per family, `probe_pair`), "_meta"} and out/study_mot.png (loss vs tokens per parameter)."""
    plan = grid_plan(cfg, sizes, steps or {}, evals, tokens_per_param)
    for e in plan:
        print(f"[study_mot] size {e['size']}: {e['active_params']:,} active params, {e['steps']} steps "
              f"({e['tokens_per_param']:.1f} tokens/param), eval every {e['config'].train.eval_every}",
              flush=True)
    results, rows, prows = [], [], []
    for e in plan:
        report, recs = _run_pair(e["config"], f"{out}/{e['size']}", progress)
        results.append((e, recs))
        rows += grid_rows(e, report)
        if probes > 0:
            prows += probe_rows(e, probe_pair(e["config"], f"{out}/{e['size']}", probes))
    outp = pathlib.Path(out)
    plot_grid(results, outp / "study_mot.png")
    largest = max(plan, key=lambda e: e["active_params"])
    single = {r["modality"]: {k: r[k] for k in GRID_KEYS[4:]} for r in rows if r["size"] == largest["size"]}
    meta = {"config": cfg.name, "seed": cfg.seed, "sizes": sizes, "tokens_per_step": tokens_per_step(cfg),
            "pair_keys_from": largest["size"],
            "plan": [{k: e[k] for k in ("size", "active_params", "steps", "tokens_per_param")} for e in plan]}
    report = {"grid": rows, "crossover": crossover(rows), **single, **({"probes": prows} if probes > 0 else {}),
              "_meta": meta}
    atomic_write_json(outp / "report.json", report, indent=2)
    return report


# ---- seeds: one config trained at several seeds, its probes pooled ---------------------------------------------
SEED_KEYS = ("probe", "metric", "higher_is_better", "baseline", "n", "values", "mean", "std", "pooled", "ci95")


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2] (distinct non-negative integers, at least two); ConfigError otherwise."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds: expected two or more distinct non-negative integers like 0,1,2; got {text!r}")
    return seeds


def seed_configs(cfg: Config, out: str, seeds: list[int]) -> dict[int, Config]:
    """The config at each seed (model initialisation and data order), each run under out/seed<k>."""
    return {s: apply_overrides(cfg, [f"seed={s}", f"run_dir={out}/seed{s}"]) for s in seeds}


def seed_rows(figures: dict[int, dict[str, dict]]) -> list[dict]:
    """One row per probe over the seeds' figures ({seed: {probe: probe_figures entry}}): each seed's value, their
    mean and sample standard deviation, the pooled value (every seed's examples together) and its 95% interval
    by a two-level bootstrap (seeds, then examples within each; `metrics.nested_ratio_ci`)."""
    seeds = sorted(figures)
    rows = []
    for p, first in figures[seeds[0]].items():
        per = [figures[s][p] for s in seeds]
        scores = [np.asarray(f["scores"], np.float64) for f in per]
        values = [f["value"] for f in per]
        pooled = sum(sc[:, 0].sum() for sc in scores) / sum(sc[:, 1].sum() for sc in scores)
        rows.append({"probe": p, "metric": first["metric"], "higher_is_better": first["higher_is_better"],
                     "baseline": first["baseline"], "n": first["n"],
                     "values": {str(s): v for s, v in zip(seeds, values)}, "mean": float(np.mean(values)),
                     "std": float(np.std(values, ddof=1)), "pooled": float(pooled),
                     "ci95": list(nested_ratio_ci([(sc[:, 0], sc[:, 1]) for sc in scores]))})
    return rows


def run_seeds(cfg: Config, out: str, seeds: list[int], limit: int, *, progress: bool = True) -> dict:
    """Trains (or resumes) the config at every seed under out/seed<k>, probes each final checkpoint on `limit`
    held-out examples per family (`probe_run`), then out/report.json: {"probes": [rows], "_meta"}."""
    runs = seed_configs(cfg, out, seeds)
    figures = {}
    for s, c in runs.items():
        print(f"[study_seeds] training seed {s} -> {c.run_dir}", flush=True)
        if train(c, progress=progress).get("preempted"):
            raise SystemExit(f"[study_seeds] seed {s} stopped by SIGTERM (checkpoint saved); run the same command "
                             "again to resume")
        figures[s] = probe_run(c, limit, f"seed {s}")
    report = {"probes": seed_rows(figures),
              "_meta": {"config": cfg.name, "steps": cfg.steps, "seeds": seeds, "limit": limit,
                        "runs": {str(s): c.run_dir for s, c in runs.items()}}}
    atomic_write_json(pathlib.Path(out) / "report.json", report, indent=2)
    return report


def seeds_table(report: dict) -> str:
    """The seeds study's report as a markdown table."""
    seeds = report["_meta"]["seeds"]
    rows = ["| probe | metric | baseline | " + " | ".join(f"seed {s}" for s in seeds) +
            " | mean (std) | pooled [95% CI] | n per seed |", "|---" * (6 + len(seeds)) + "|"]
    for r in report["probes"]:
        rows.append(f"| {r['probe']} | {r['metric']} | {r['baseline']:.3f} | " +
                    " | ".join(f"{r['values'][str(s)]:.3f}" for s in seeds) +
                    f" | {r['mean']:.3f} ({r['std']:.3f}) | {r['pooled']:.3f} [{r['ci95'][0]:.2f}, "
                    f"{r['ci95'][1]:.2f}] | {r['n']} |")
    return "\n".join(rows)


def estimate_grid(config: str, overrides: list[str], plan: list[dict], steps: int = 3) -> dict:
    """Times `steps` jitted train steps (compile and one warm-up excluded; `bench.py train` on synthetic data of
    the same shapes) of both variants at every planned size and projects the grid's training wall-clock on
    this machine under its present load: per size, planned steps x (dense + MoT median step time), plus
    evaluations (a forward pass counted as 1/3 of a train step). Process CPU seconds per step ride along (the
    steadier figure on a shared machine). Returns {"sizes": [...], "total_s"}."""
    from omni.bench.train import run as bench_train  # only the estimate builds benchmark steps

    rows, total = [], 0.0
    for e in plan:
        c = e["config"]
        shape = [f"model.{k}={v}" for k, v in SIZES[e["size"]].items()]
        t, cpu = {}, {}
        for variant, switches in (("dense", DENSE), ("mot", tuple(s.replace("false", "true") for s in DENSE))):
            r = bench_train(["--config", config, "--steps", str(steps), "--warmup", "1", "--no-machine",
                             *overrides, *shape, *switches])
            t[variant], cpu[variant] = r["step_time_s"], r["process_cpu_s_per_step"]
        evals = e["steps"] // c.train.eval_every
        run_s = e["steps"] * (t["dense"] + t["mot"]) + 2 * evals * c.train.eval_batches * (
            t["dense"] + t["mot"]) / 6
        rows.append({"size": e["size"], "steps": e["steps"], "dense_step_s": t["dense"], "mot_step_s": t["mot"],
                     "dense_cpu_s": cpu["dense"], "mot_cpu_s": cpu["mot"], "projected_s": run_s})
        total += run_s
    return {"sizes": rows, "total_s": total}


def summary_table(report: dict) -> str:
    def f(x):
        return "not reached" if x is None else f"{100 * x:.1f}%"

    if "grid" in report:
        rows = ["| size | active params | tokens/param | modality | dense final (best) loss | MoT final (best) loss | "
                "steps fraction | time fraction |", "|---|---|---|---|---|---|---|---|"]
        for r in report["grid"]:
            rows.append(f"| {r['size']} | {r['active_params']:,} | {r['tokens_per_param']:.1f} | {r['modality']} | "
                        f"{r['dense_final_loss']:.3f} ({r['dense_best_loss']:.3f}) | {r['mot_final_loss']:.3f} "
                        f"({r['mot_best_loss']:.3f}) | {f(r['steps_fraction'])} | {f(r['time_fraction'])} |")
        rows += [f"crossover ({k}): {v}" for k, v in report.get("crossover", {}).items()]
        if report.get("probes"):
            rows += ["", "| size | probe | metric | baseline | dense [95% CI] | MoT [95% CI] | n |",
                     "|---|---|---|---|---|---|---|"]
            ci = lambda v, c: f"{v:.3f} [{c[0]:.2f}, {c[1]:.2f}]"  # noqa: E731
            for r in report["probes"]:
                rows.append(f"| {r['size']} | {r['probe']} | {r['metric']} | {r['baseline']:.3f} | "
                            f"{ci(r['dense'], r['dense_ci95'])} | {ci(r['mot'], r['mot_ci95'])} | {r['n']} |")
        return "\n".join(rows)
    rows = ["| modality | dense final loss | MoT final loss | steps fraction | time fraction |",
            "|---|---|---|---|---|"]
    for name, r in report.items():
        if name.startswith("_"):
            continue
        rows.append(f"| {name} | {r['dense_final_loss']:.3f} | {r['mot_final_loss']:.3f} | "
                    f"{f(r['steps_fraction'])} | {f(r['time_fraction'])} |")
    return "\n".join(rows)
