"""The tokenizers' device programs for the compile plan: each media tokenizer's train step (the one
`launch/train_tokenizer.py` runs on the one trainer) and encode step (what distributed tokenization runs),
built by `omni_tokenizers.programs` with abstract inputs on the plan's mesh.

The preset follows the MoT config's name: `tiny` and `demo` use their own, every other config the `base`
preset (configs/tokenizers_*.py: 256x256 images, 17x128x128 clips, 8-level audio). Batches are the
preset's training batch, rounded up to the mesh's batch shards (train) or its devices (encode).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from omni_tokenizers.programs import MEDIA, encode_program, train_program
from omni_tokenizers.trainers import preset

from omni.config import Config
from omni.plan.programs import Program
from omni.train.mesh import batch_shards


def _job(modality: str, cfg: Config):
    return preset(modality, cfg.name if cfg.name in ("tiny", "demo") else "base")


def train_builder(modality: str) -> Callable[[Config, object], Program]:
    def build(cfg: Config, mesh) -> Program:
        job = _job(modality, cfg)
        shards = batch_shards(job, mesh)
        per = -(-job.train.batch_size // shards)
        step, state, batch, lr = train_program(modality, job, mesh, per)
        return Program(step, (state, batch, lr), None, per * shards, attention=False)  # no Pallas: XLA's FLOPs
    return build


def encode_builder(modality: str) -> Callable[[Config, object], Program]:
    def build(cfg: Config, mesh) -> Program:
        job = _job(modality, cfg)
        per = -(-job.train.batch_size // math.prod(mesh.devices.shape))
        enc, params, media = encode_program(modality, job, mesh, per)
        return Program(enc, (params, media), None, media.shape[0], attention=False)
    return build


def tokenizer_programs() -> dict[str, Callable]:
    """{program name: builder(cfg, mesh) -> Program}: `<modality>_train` and `<modality>_encode`."""
    out = {}
    for m in MEDIA:
        out[f"{m}_train"] = train_builder(m)
        out[f"{m}_encode"] = encode_builder(m)
    return out
