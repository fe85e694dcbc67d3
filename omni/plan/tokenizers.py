"""The tokenizers' device programs for the compile plan: each media tokenizer's encode step (what distributed
tokenization runs) over a batch sharded on the mesh's batch axes, weights replicated.

The preset follows the MoT config's name (`tiny`, `demo`; other configs use the `demo` preset) and the
item shape is the one the preset is trained at (image 8x8 latents, a 9-frame clip, the audio crop).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from omni import sharding
from omni.config import Config
from omni.plan.programs import Program

MEDIA = ("image", "video", "audio")


def _preset_name(cfg: Config) -> str:
    return cfg.name if cfg.name in ("tiny", "demo") else "demo"


def _job(modality: str, cfg: Config):
    from omni_tokenizers.trainers import preset
    return preset(modality, _preset_name(cfg))


def _model_and_item(modality: str, job):
    """(abstract model, item shape, encode(model, x) -> int32 ids [B, tokens], FLOPs per item or None)."""
    from omni_tokenizers.base import abstract_module
    if modality == "audio":
        from omni_tokenizers.audio_codec import AudioCodec
        model = nnx.eval_shape(lambda: AudioCodec(job.model))
        T = int(job.segment_seconds * job.model.sample_rate)
        k = job.model.num_quantizers
        return model, (T,), lambda m, x: m.encode(x, k).reshape(x.shape[0], -1).astype(jnp.int32)
    if modality == "image":
        from omni_tokenizers.image import ImageAutoencoder
        model = abstract_module(lambda r: ImageAutoencoder(job.model, r))
        side = 8 * job.model.downsample
        item = (side, side, 3)
    else:
        from omni_tokenizers.video import VideoAutoencoder
        model = abstract_module(lambda r: VideoAutoencoder(job.model, r))
        item = (1 + 2 * job.model.temporal_group, job.model.frame_size, job.model.frame_size, 3)
    return model, item, lambda m, x: m.encode(x)[2].reshape(x.shape[0], -1).astype(jnp.int32)


def encode_program(modality: str) -> Callable[[Config, object], Program]:
    def build(cfg: Config, mesh) -> Program:
        job = _job(modality, cfg)
        model, item, encode = _model_and_item(modality, job)
        graphdef, state = nnx.split(model)
        rules = tuple(cfg.mesh.rules)
        shards = math.prod(mesh.shape[a] for a in _batch_axes(rules, mesh))
        B = -(-job.train.batch_size // shards) * shards
        spec = sharding.logical_to_spec(("batch",) + (None,) * len(item), rules, (B,) + item, mesh)
        rep = NamedSharding(mesh, PartitionSpec())
        x = jax.ShapeDtypeStruct((B,) + item, jnp.float32, sharding=NamedSharding(mesh, spec))
        params = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep), state)
        fn = jax.jit(lambda st, x: encode(nnx.merge(graphdef, st), x),
                     out_shardings=NamedSharding(mesh, PartitionSpec(spec[0], None)))
        return Program(fn, (params, x), None, B, attention=False)  # no Pallas kernel: XLA counts the FLOPs
    return build


def _batch_axes(rules, mesh) -> tuple[str, ...]:
    target = dict(rules).get("batch")
    names = () if target is None else (target,) if isinstance(target, str) else tuple(target)
    return tuple(n for n in names if n in mesh.axis_names)


def tokenizer_programs() -> dict[str, Callable]:
    """{program name: builder(cfg, mesh) -> Program} for the plan (`<modality>_encode`)."""
    return {f"{m}_encode": encode_program(m) for m in MEDIA}
