"""Trains one modality's tokenizer and saves it (config.json + weights) with held-out metrics.

    python launch/train_tokenizer.py --modality {text,image,audio,video} --config demo [key=value ...]
        [--data runs/demo/corpus | --data synthetic] [--out runs/demo/tokenizers/MODALITY] [--until STEP]

--config is a configs/tokenizers_*.py path, its short name (demo, tiny) or a bare preset name; the file
defines get_config(modality). Overrides are dotted keys of the job config (model.levels=8,8,8,8,
train.steps=200). Re-running resumes from the latest orbax checkpoint under OUT/train/checkpoints.
"""
from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import sys

from absl import flags
from omni_tokenizers import trainers
from omni_tokenizers.base import MODALITIES

from omni.config import apply_overrides, call_config_file, exit_config_error

REPO = pathlib.Path(__file__).resolve().parent.parent


def resolve_job(config: str, modality: str, overrides: list[str]):
    """Loads the job config for `modality` from a file path, a configs/tokenizers_NAME.py name or a preset."""
    path = pathlib.Path(config)
    if not path.is_file():
        cand = REPO / "configs" / (config if config.endswith(".py") else f"tokenizers_{config}.py")
        path = cand if cand.is_file() else None
    if path is not None:
        get = trainers.load_config_file(path).get_config
        job = call_config_file(path, get, *([modality] if inspect.signature(get).parameters else []))
    else:
        job = trainers.preset(modality, config)
    return apply_overrides(job, overrides)


def load_data(modality: str, data: str, limit: int | None):
    """(train items, held-out items) from the corpus at `data`, or synthetic media for image/video."""
    if data == "synthetic":
        from omni_tokenizers.data import synthetic_images, synthetic_videos
        if modality == "image":
            return synthetic_images(limit or 512, 64, seed=0), synthetic_images(64, 64, seed=1)
        if modality == "video":
            return synthetic_videos(limit or 256, 9, 32, seed=0), synthetic_videos(32, 9, 32, seed=1)
        raise ValueError(f"--data synthetic is only available for image and video, not {modality}")
    if not pathlib.Path(data).exists():
        raise ValueError(f"corpus not found at {data}; build it with launch/build_corpus.py or pass --data")
    return (trainers.corpus_split(modality, data, "train", limit),
            trainers.corpus_split(modality, data, "validation"))


def main(argv=None) -> int:
    flags.FLAGS.mark_as_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modality", required=True, choices=MODALITIES)
    ap.add_argument("--config", default="demo", help="configs/tokenizers_*.py path or name, or a preset")
    ap.add_argument("--data", default="runs/demo/corpus", help="corpus data_dir, or 'synthetic'")
    ap.add_argument("--out", default=None, help="output dir (default runs/demo/tokenizers/MODALITY)")
    ap.add_argument("--limit", type=int, default=None, help="use at most this many training items")
    ap.add_argument("--until", type=int, default=None, help="stop (checkpointed) at this step; rerun resumes")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("overrides", nargs="*", help="key=value overrides of the job config")
    a = ap.parse_args(argv)
    try:
        job = resolve_job(a.config, a.modality, a.overrides)
    except ValueError as e:  # ConfigError, and the tokenizer configs' own validate()
        exit_config_error(e)
    out = pathlib.Path(a.out or f"runs/demo/tokenizers/{a.modality}")
    train_items, eval_items = load_data(a.modality, a.data, a.limit)
    try:
        result = trainers.trainer(a.modality).train(job, train_items, eval_items, out, progress=not a.no_progress,
                                                    until=a.until)
    except FloatingPointError as e:  # the loss diverged (e.g. train.learning_rate=1e30): one line, exit 1
        print(f"error: {e}; lower train.learning_rate (checkpoints already written are intact)", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(result, default=float))
    else:
        print(f"{a.modality} tokenizer saved to {out}; held-out: {result.get('eval', result.get('held_out'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
