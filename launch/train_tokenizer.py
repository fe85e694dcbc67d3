"""Trains one modality's tokenizer and saves it (config.json + weights) with held-out metrics.

    python launch/train_tokenizer.py --modality {text,image,audio,video} --config demo [key=value ...]
        [--data runs/demo/corpus | --data synthetic] [--out runs/demo/tokenizers/MODALITY] [--until STEP]

--config is a preset of configs/tokenizers_MODALITY.py (tiny, demo, base) or the path of a config file whose
get_config() returns the job (called with the modality when it takes a required argument). Overrides are
dotted keys of the job config (model.levels=8,8,8,8, train.steps=200, mesh.data=8). Image, video and audio
tokenizers train through omni's one training loop (`omni.train`): OUT/train is a run dir like the MoT's
(config.json, metrics.jsonl, tensorboard/, checkpoints/ with the data-iterator state); re-running resumes;
SIGTERM saves and exits 0; several processes (launch/tpu_pod.sh, launch/slurm_gpu.sbatch, or JAX_* variables)
train data-parallel over the mesh. The finished tokenizer (config.json + weights) and eval.json land in OUT.
"""
from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import sys

from omni_tokenizers import trainers
from omni_tokenizers.core.base import MODALITIES
from omni_tokenizers.core.data import synthetic_images, synthetic_videos

from omni.cli import absl_flags_parsed
from omni.config import ConfigError, apply_overrides, call_config_file, exit_config_error, load_config


def resolve_job(config: str, modality: str, overrides: list[str]):
    """Loads the job config for `modality` from a config file path or a preset of configs/tokenizers_MODALITY.py."""
    path = pathlib.Path(config)
    if path.is_file():
        get = trainers.load_config_file(path).get_config
        required = [p for p in inspect.signature(get).parameters.values() if p.default is p.empty]
        job = call_config_file(path, get, *([modality] if required else []))
        if not isinstance(job, trainers.job_class(modality)):
            raise ConfigError(f"{path}: get_config() returned a {type(job).__name__}, the {modality} trainer "
                              f"takes a {trainers.job_class(modality).__name__}")
    else:
        job = trainers.preset(modality, config)
    return apply_overrides(job, overrides)


def load_data(modality: str, data: str, limit: int | None, source_weights: tuple[tuple[str, float], ...] = ()):
    """(train items, held-out items) as random-access sequences read lazily (corpus or TFDS fields, or a
    weighted TFDS mixture with --data tfds:CONFIG), or synthetic media for image/video; training streams
    them through grain. `source_weights` (the job's) weigh a corpus's sources in the training items."""
    if source_weights and (data == "synthetic" or data.startswith("tfds:")):
        raise ValueError(f"source_weights weigh the sources of a corpus built by launch/build_corpus.py; --data "
                         f"{data} has none (a TFDS mixture weighs its datasets itself): set source_weights=[]")
    if data == "synthetic":
        if modality == "image":
            return synthetic_images(limit or 512, 64, seed=0), synthetic_images(64, 64, seed=1)
        if modality == "video":
            return synthetic_videos(limit or 256, 9, 32, seed=0), synthetic_videos(32, 9, 32, seed=1)
        raise ValueError(f"--data synthetic is only available for image and video, not {modality}")
    if data.startswith("tfds:"):  # a MoT config naming a TFDS dataset or mixture (data.tfds_*)
        cfg = load_config(data[len("tfds:"):])
        return trainers.tfds_split(modality, cfg, "train"), trainers.tfds_split(modality, cfg, "validation")
    if not pathlib.Path(data).exists():
        raise ValueError(f"corpus not found at {data}; build it with launch/build_corpus.py or pass --data")
    # training reads only the examples that have the modality (an index of them is made first); text is
    # read once by SentencePiece, so it needs none unless source weights ask for each text's source
    return (trainers.corpus_split(modality, data, "train", limit, index=modality != "text",
                                  source_weights=source_weights),
            trainers.corpus_split(modality, data, "validation"))


def main(argv=None) -> int:
    # after the SIGTERM handler / env set-up: importing jax comes later on purpose
    from omni.train.preemption import install_early_handler
    install_early_handler()  # a SIGTERM while importing/compiling still ends in a checkpoint and exit 0
    absl_flags_parsed()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modality", required=True, choices=MODALITIES)
    ap.add_argument("--config", default="demo", help="preset (tiny, demo, base) or config file path")
    ap.add_argument("--data", default="runs/demo/corpus",
                    help="corpus data_dir, 'synthetic', or tfds:CONFIG (the TFDS dataset/mixture a config names)")
    ap.add_argument("--out", default=None, help="output dir (default runs/demo/tokenizers/MODALITY)")
    ap.add_argument("--limit", type=int, default=None, help="use at most the first LIMIT training examples")
    ap.add_argument("--until", type=int, default=None, help="stop (checkpointed) at this step; rerun resumes")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("overrides", nargs="*", help="key=value overrides of the job config")
    a = ap.parse_args(argv)
    try:
        job = resolve_job(a.config, a.modality, a.overrides)
    except ValueError as e:  # ConfigError, and the tokenizer configs' own validate()
        exit_config_error(e)

    from omni.train import distributed
    distributed.initialize()  # before any JAX backend is touched (multi-process: jax.distributed)

    from omni.train import NonFiniteError
    try:
        train_items, eval_items = load_data(a.modality, a.data, a.limit, job.source_weights)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(a.out or f"runs/demo/tokenizers/{a.modality}")
    try:
        result = trainers.trainer(a.modality)(job, train_items, eval_items, out, progress=not a.no_progress,
                                              until=a.until)
    except (ConfigError, NonFiniteError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not distributed.is_main():
        return 0
    if a.json:
        print(json.dumps(result, default=float))
    elif "report" not in result and "held_out" not in result and a.modality != "text":
        state = "preempted (SIGTERM)" if result.get("preempted") else f"stopped at step {result['step']}"
        print(f"{a.modality} tokenizer: {state}, checkpoint {result.get('checkpoint_step')} in {out / 'train'}; "
              "rerun to resume")
    else:
        print(f"{a.modality} tokenizer saved to {out}; held-out: {result.get('eval', result.get('held_out'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
