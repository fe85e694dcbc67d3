"""Compile a run's programs for TPU slices ahead of time, on any machine (MaxText's train_compile, extended).

    python launch/plan.py --config base --topology v5p-8 [--topology v6e-256 ...] [--fit-batch] [--json]
        [key=value ...]

For each topology (cloud slice names: v4-8, v5e-4, v5p-8, v5p-128, v6e-4, ...; N slices as 2xv5p-8; GPU
nodes h100-8, h200-8 through the CUDA plugin) the train step (with the Pallas attention kernels), eval step,
KV-cache decode step and the tokenizers' train and encode steps are lowered and compiled by the real
compiler; per program: compiled or the compiler's error, bytes per device (memory_analysis), whether that
fits HBM with 10% headroom, FLOPs per step (analytic; XLA's for tokenizers) and the step time implied at
--mfu. The config's attention_impl becomes `auto` (pallas on TPU/GPU) unless given on the command line; a
config mesh that does not fit the slice is shrunk (tensor, then fsdp, then data halved; noted in the output)
unless a mesh.* key is given on the command line.
Exit 0 when every program could be judged (not compiling or not fitting is a result), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from omni.config import ConfigError, load_config
from omni.plan.gpu import prepare_cuda_plugin
from omni.plan.topology import parse_topology, target_devices


def _human(plan: dict) -> str:
    gib = 1 << 30
    lines = [f"{plan['config']} on {plan['topology']} ({plan['devices']} devices, {plan['chip']}, mesh "
             f"{plan['mesh']}, batch {plan['batch']}, HBM {plan['hbm_bytes_per_device'] / gib:.0f} GiB/device)"]
    if plan.get("mesh_note"):
        lines.append(f"  note: {plan['mesh_note']}")
    if "largest_batch" in plan:
        lines.append(f"  largest train batch that fits: {plan['largest_batch']}")
    for name, p in plan["programs"].items():
        if p["compiled"]:
            b = p["bytes_per_device"]
            verdict = "fits" if p["fits"] else "DOES NOT FIT"
            flops = ("FLOPs unknown" if p["flops_per_step"] is None else
                     f"{p['flops_per_step'] / 1e12:.3g} TFLOP/step, {p['step_time_s_at_mfu'] * 1e3:.3g} ms at "
                     f"{p['mfu']:.0%} MFU")
            kernels = f", attention {p['attention_impl']} ({p['pallas_kernels']} Pallas calls)" if p[
                "attention_impl"] else ""
            lines.append(f"  {name:<22} {verdict:<13} {b['total'] / gib:8.2f} GiB/device "
                         f"(args {b['arguments'] / gib:.2f}, temps {b['temporaries'] / gib:.2f}), {flops}{kernels}")
        else:
            first = (p["error"] or "").splitlines()[0][:160]
            lines.append(f"  {name:<22} NOT COMPILED  {first}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="config path or name (tiny, demo, base, 1b, 7b)")
    ap.add_argument("--topology", action="append", required=True, help="TPU slice name; repeat for several")
    ap.add_argument("--fit-batch", action="store_true",
                    help="find the largest train batch (the config's x a power of two) that fits")
    ap.add_argument("--mfu", type=float, default=0.40, help="MFU for the implied step time (default 0.40)")
    ap.add_argument("--programs", default="", help="comma-separated subset of the programs (default: all)")
    ap.add_argument("--out", default="runs/plan", help="folder for plan JSON files and libtpu logs")
    ap.add_argument("--json", action="store_true", help="print JSON (one object per topology, one per line)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = ap.parse_intermixed_args(argv)

    def bad(msg: str) -> int:
        print(f"plan: {msg}", file=sys.stderr)
        return 2

    if not 0 < args.mfu <= 1:
        return bad(f"--mfu must be in (0, 1], got {args.mfu}")
    try:
        topos = [parse_topology(t) for t in args.topology]
    except ValueError as e:
        return bad(str(e))
    if any(t.platform == "gpu" for t in topos):
        prepare_cuda_plugin(log_dir=args.out)  # before jax starts its backends
    overrides = list(args.overrides)
    if not any(o.split("=", 1)[0].strip() == "model.attention_impl" for o in overrides):
        overrides.append("model.attention_impl=auto")
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    # after the CUDA plugin / env set-up above: importing jax comes later on purpose
    from omni.plan.compile import PROGRAMS, plan
    from omni.plan.tokenizers import tokenizer_programs
    extra = tokenizer_programs()
    known = list(PROGRAMS) + list(extra)
    chosen = [p.strip() for p in args.programs.split(",") if p.strip()] or known
    unknown = [p for p in chosen if p not in known]
    if unknown:
        return bad(f"unknown program(s) {unknown}; expected some of {known}")
    out_dir = pathlib.Path(args.out)
    for topo in topos:
        run_dir = out_dir / f"{cfg.name}-{topo.name}"
        try:
            devices = target_devices(topo, log_dir=run_dir / "libtpu")
        except RuntimeError as e:
            return bad(str(e))
        try:
            result = plan(cfg, topo, devices, mfu=args.mfu, fit=args.fit_batch,
                          programs=[p for p in chosen if p in PROGRAMS],
                          extra={k: v for k, v in extra.items() if k in chosen},
                          adapt=not any(o.strip().startswith("mesh.") for o in args.overrides))
        except ConfigError as e:
            print(f"config error: {e}", file=sys.stderr)
            return 2
        run_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result)
        (run_dir / "plan.json").write_text(json.dumps(result, indent=1) + "\n")
        print(text if args.json else _human(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
