"""Prints parameter counts (total, active per token) and training FLOPs per token for a config, or each
tokenizer's parameters, tokens per item and encode FLOPs per item for a tokenizer preset.

    python launch/model_info.py --config configs/7b.py [key=value ...]
    python launch/model_info.py --tokenizers base        # or tiny, demo
"""
from __future__ import annotations

import argparse
import json

from omni_tokenizers.programs import tokenizer_info
from omni_tokenizers.trainers import preset

from omni.config import cli_load_config
from omni.model import model_stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="config path or name (tiny, demo, base, 1b, 7b)")
    ap.add_argument("--tokenizers", help="tokenizer preset (tiny, demo, base): image, video, audio programs")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("overrides", nargs="*", help="key=value overrides")
    a = ap.parse_args()
    if a.tokenizers:
        for m in ("image", "video", "audio"):
            info = tokenizer_info(m, preset(m, a.tokenizers))
            if a.json:
                print(json.dumps({"preset": a.tokenizers, **info}))
            else:
                per = "second" if m == "audio" else "item " + "x".join(map(str, info["item_shape"]))
                print(f"{m}: {info['params'] / 1e6:.1f}M params, {info['tokens_per_item']} tokens "
                      f"({info['bits_per_item']:.0f} bits) and {info['encode_flops_per_item'] / 1e9:.2f} GFLOP "
                      f"encode per {per}")
        return
    if not a.config:
        ap.error("give --config or --tokenizers")
    cfg = cli_load_config(a.config, a.overrides)
    s = model_stats(cfg)
    if a.json:
        print(json.dumps({"config": cfg.name, **s.__dict__}))
    else:
        print(f"{cfg.name}: {s.summary()} (seq_len {cfg.train.seq_len}, vocab {cfg.vocab.build().size})")


if __name__ == "__main__":
    main()
