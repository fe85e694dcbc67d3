"""Train (or resume) a model: `python launch/train.py --config configs/NAME.py [key=value ...]`.

Re-running the same command resumes from the run directory's latest checkpoint. SIGTERM saves a
checkpoint and exits 0. Multi-host: see docs/training.md (jax.distributed is set up from the env).
"""
from __future__ import annotations

import argparse
import logging
import sys

from omni.cli import absl_flags_parsed
from omni.config import ConfigError, load_config


def main(argv: list[str]) -> int:
    # after the SIGTERM handler / env set-up: importing jax comes later on purpose
    from omni.train.preemption import install_early_handler
    install_early_handler()  # a SIGTERM while importing/compiling still ends in a checkpoint and exit 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="configs/NAME.py or a bare config name (tiny, demo, base)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. steps=100 run_dir=runs/x")
    args = parser.parse_intermixed_args(argv)  # key=value overrides may come before or after options

    absl_flags_parsed()  # grain worker processes read absl flags
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "orbax", "jax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from omni.train import distributed
    distributed.initialize()  # before any JAX backend is touched

    from omni.train import NonFiniteError, train
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    try:
        summary = train(cfg, progress=not args.no_progress)
    except ConfigError as e:  # what only the devices or the run dir reveal: mesh, batch layout, checkpoint
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if distributed.is_main():
        last = summary["last"]
        state = "preempted (SIGTERM), checkpoint saved" if summary["preempted"] else "done"
        print(f"{state}: step {summary['step']}, loss {last.get('loss', float('nan')):.4f}, "
              f"checkpoint {summary['checkpoint_step']} in {summary['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
