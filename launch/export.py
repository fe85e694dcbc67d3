"""Export a training run's checkpoint as an inference bundle (see docs/sampling.md for the format).

    python launch/export.py --run RUN_DIR [--step N] --out BUNDLE [--dtype float32|bfloat16]
                            [--tokenizers DIR | --no-tokenizers] [--eval-batches N] [--overwrite]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from omni.cli import absl_flags_parsed
from omni.config import ConfigError
from omni.sampling.bundle import read_manifest
from omni.sampling.export_run import export_run


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, type=pathlib.Path, help="training run directory (has checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--out", required=True, type=pathlib.Path, help="bundle folder to write")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="stored parameter dtype")
    p.add_argument("--tokenizers", type=pathlib.Path, default=None,
                   help="tokenizer folder (default: the run's data.tokenizer_dir)")
    p.add_argument("--no-tokenizers", action="store_true", help="tokens-only bundle (no media encode/decode)")
    p.add_argument("--eval-batches", type=int, default=0,
                   help="compute held-out metrics on N validation batches (default: the trainer's records)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    a = p.parse_args(argv)
    try:
        out = export_run(a.run, a.out, step=a.step, dtype=a.dtype, tokenizer_dir=a.tokenizers,
                         tokenizers=not a.no_tokenizers, eval_batches=a.eval_batches, overwrite=a.overwrite)
    except (ValueError, ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    m = read_manifest(out)
    size = sum(f["bytes"] for f in m["files"].values())
    print(json.dumps({"bundle": str(out), "step": m["step"], "param_dtype": m["param_dtype"],
                      "num_params": m["num_params"], "bytes": size, "tokenizers": m["tokenizers"],
                      "metrics": m["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
