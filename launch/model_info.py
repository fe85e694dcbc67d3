"""Prints parameter counts (total, active per token) and training FLOPs per token for a config.

    python launch/model_info.py --config configs/7b.py [key=value ...]
"""
from __future__ import annotations

import argparse
import json

from omni.config import cli_load_config
from omni.model import model_stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="config path or name (tiny, demo, base, 1b, 7b)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("overrides", nargs="*", help="key=value overrides")
    a = ap.parse_args()
    cfg = cli_load_config(a.config, a.overrides)
    s = model_stats(cfg)
    if a.json:
        print(json.dumps({"config": cfg.name, **s.__dict__}))
    else:
        print(f"{cfg.name}: {s.summary()} (seq_len {cfg.train.seq_len}, vocab {cfg.vocab.build().size})")


if __name__ == "__main__":
    main()
