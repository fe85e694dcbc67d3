"""Each tokenizer's train and encode steps as jittable programs with abstract, sharded inputs.

    step, state, batch, lr = train_program("image", job, mesh, per_device_batch=8)
    step.lower(state, batch, lr).compile()           # ahead of time: no data, no weights allocated
    enc, params, media = encode_program("image", job, mesh, per_device_batch=32)
    jax.jit(enc).lower(params, media)                # enc already carries its shardings

`mesh` is a `jax.sharding.Mesh` (e.g. over TPU topology devices for launch/plan.py) or a dict of axis
sizes ({"data": 8} or {"data": 2, "fsdp": 4}) over this machine's devices; its axes should be named
`data`/`fsdp`/`tensor` like the trainer's. The train step is exactly the one `launch/train_tokenizer.py`
runs (omni.train.module_task.ModuleTask.make_step); the encode step is the one tokenization runs.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh
from omni_tokenizers.audio.codec import AudioCodec
from omni_tokenizers.audio.tokenizer import AudioTokenizer
from omni_tokenizers.audio.train import training_losses
from omni_tokenizers.core import base
from omni_tokenizers.core.autoencoder_train import autoencoder_init
from omni_tokenizers.core.training import tokenizer_parts
from omni_tokenizers.image.tokenizer import ImageTokenizer
from omni_tokenizers.image.train import loss_fn as image_loss_fn
from omni_tokenizers.video.tokenizer import VideoTokenizer
from omni_tokenizers.video.train import loss_fn as video_loss_fn

from omni.data.corpus.spec import media_shapes
from omni.train.mesh import batch_shards, train_mesh
from omni.train.module_task import ModuleTask, Part, abstract_program

MEDIA = ("image", "video", "audio")
AUTOENCODERS = {"image": (ImageTokenizer, image_loss_fn), "video": (VideoTokenizer, video_loss_fn)}


def item_shape(modality: str, job) -> tuple[int, ...]:
    """One training item's shape: the job's `item_shape` when it has one, else the corpus media spec
    (image [64, 64, 3], video [9, 32, 32, 3]); audio: the training crop [segment samples]."""
    if modality == "audio":
        return (int(job.segment_seconds * job.model.sample_rate),)
    if getattr(job, "item_shape", None):
        return tuple(job.item_shape)
    return tuple(media_shapes()[modality])


def _parts(modality: str, job) -> tuple[dict[str, Part], str]:
    """The fit's parts (the tokenizer's "model", and the audio codec's discriminators when the job has them)
    and the batch key."""
    if modality == "audio":
        return tokenizer_parts(lambda: AudioCodec(job.model), *training_losses(job)), "wave"
    if modality not in AUTOENCODERS:
        raise ValueError(f"modality must be one of {MEDIA} (text has no JAX program), got {modality!r}")
    tok_cls, loss_fn = AUTOENCODERS[modality]
    return {"model": Part(init=autoencoder_init(tok_cls, job.model, job.train.seed),
                          loss=lambda models, b, key: loss_fn(models["model"], b["media"], job.loss))}, "media"


def _with_mesh(task_or_job, mesh: Mesh | dict):
    if isinstance(mesh, Mesh):
        return mesh
    sizes = {"data": 1, "fsdp": 1, "tensor": 1, **mesh}
    job = dataclasses.replace(task_or_job, mesh=dataclasses.replace(task_or_job.mesh, **sizes))
    return train_mesh(job)


def train_program(modality: str, job, mesh: Mesh | dict, per_device_batch: int,
                  shape: tuple[int, ...] | None = None):
    """(jitted train step, abstract TrainState, abstract batch {key: [B, *item]}, abstract lr) on `mesh`;
    B = per_device_batch x the mesh's batch shards. Lower with `step.lower(state, batch, lr)`."""
    parts, key = _parts(modality, job)
    m = _with_mesh(job, mesh)
    batch = per_device_batch * batch_shards(job, m)
    job = dataclasses.replace(job, train=dataclasses.replace(job.train, batch_size=batch))
    task = ModuleTask(modality, job, "/nonexistent", parts, data=None)
    task.mesh = m
    shape = item_shape(modality, job) if shape is None else tuple(shape)
    return abstract_program(task, {key: ((per_device_batch,) + shape, np.float32)})


def abstract_tokenizer(modality: str, job):
    """The tokenizer of `job` with shape-only weights (nothing allocated)."""
    if modality == "audio":
        return AudioTokenizer(job.model, model=nnx.eval_shape(lambda: AudioCodec(job.model)))
    parts, _ = _parts(modality, job)
    cls = AUTOENCODERS[modality][0]
    return cls(job.model, model=nnx.eval_shape(parts["model"].init))


def encode_program(modality: str, job, mesh: Mesh | dict, per_device_batch: int,
                   shape: tuple[int, ...] | None = None) -> tuple[Any, Any, jax.ShapeDtypeStruct]:
    """(jitted encode(params, media) -> int32 ids [B, tokens], abstract params (replicated), abstract media
    [B, *item] split over every mesh axis), B = per_device_batch x mesh size."""
    m = _with_mesh(job, mesh)
    tok = abstract_tokenizer(modality, job)
    shape = item_shape(modality, job) if shape is None else tuple(shape)
    rep, split = base.replicated(m), base.batch_split(m)
    params = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep),
                          nnx.split(tok.model)[1])
    media = jax.ShapeDtypeStruct((per_device_batch * m.size,) + shape, jnp.float32, sharding=split)
    fn = tok.encode_fn
    return jax.jit(fn, in_shardings=(rep, split), out_shardings=split), params, media


def tokenizer_info(modality: str, job, shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Parameters, tokens and bits per item and encode FLOPs per item (XLA's cost analysis of the lowered
    encode program, one item on one device; nothing is compiled or allocated) of `job`'s tokenizer."""
    tok = abstract_tokenizer(modality, job)
    shape = item_shape(modality, job) if shape is None else tuple(shape)
    if modality == "audio":
        shape = (int(job.model.sample_rate),)  # per second of audio
    enc, params, media = encode_program(modality, job, {"data": 1}, 1, shape)
    cost = enc.lower(params, media).cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    n = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    return {"modality": modality, "item_shape": list(shape), "params": n,
            "tokens_per_item": int(tok.tokens_per_item(shape)), "bits_per_item": float(tok.bits_per_item(shape)),
            "encode_flops_per_item": float((cost or {}).get("flops", 0.0))}
