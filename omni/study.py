"""MoT vs dense at equal FLOPs per token: train both on the same data/seed/steps, compare held-out curves.

For each target modality: the fraction of steps (and of training wall-clock) the MoT needs to reach the
dense model's final held-out loss, linearly interpolated between evaluations. The Mixture-of-Transformers
paper reports 55.8% of the dense FLOPs overall (7B Chameleon setting) and 37.2% for speech.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from omni import modality as mod
from omni.config import Config, apply_overrides
from omni.model import model_stats
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
    """Per modality (and "all"): steps/time fraction for the MoT to reach the dense final held-out loss."""
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
    runs = variants(cfg, out)
    for name, c in runs.items():
        print(f"[study_mot] training {name} -> {c.run_dir}", flush=True)
        train(c, progress=progress)
    recs = {k: read_metrics(c.run_dir) for k, c in runs.items()}
    report = compare(recs["dense"], recs["mot"])
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    plot(recs["dense"], recs["mot"], outp / "study_mot.png")
    meta = {"config": cfg.name, "steps": cfg.steps, "seed": cfg.seed,
            "flops_per_token": model_stats(runs["mot"]).train_flops_per_token,
            "params_total": {k: model_stats(c).total_params for k, c in runs.items()},
            "params_active": model_stats(runs["mot"]).active_params}
    (outp / "report.json").write_text(json.dumps({**report, "_meta": meta}, indent=2))
    return report


def summary_table(report: dict) -> str:
    def f(x):
        return "not reached" if x is None else f"{100 * x:.1f}%"

    rows = ["| modality | dense final loss | MoT final loss | steps fraction | time fraction |",
            "|---|---|---|---|---|"]
    for name, r in report.items():
        if name.startswith("_"):
            continue
        rows.append(f"| {name} | {r['dense_final_loss']:.3f} | {r['mot_final_loss']:.3f} | "
                    f"{f(r['steps_fraction'])} | {f(r['time_fraction'])} |")
    return "\n".join(rows)

