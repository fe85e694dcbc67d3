"""The Mixture-of-Transformers model, its loss, and analytic size/FLOP counts."""
from flax import nnx

from omni.model.flops import ModelStats, model_stats
from omni.model.loss import batch_info, loss_fn
from omni.model.mot import KVCache, OmniModel

__all__ = ["OmniModel", "KVCache", "loss_fn", "batch_info", "model_stats", "ModelStats", "build_model"]


def build_model(cfg, *, seed: int = 0) -> OmniModel:
    """Builds the model of a full `Config` (vocabulary from cfg.vocab)."""
    return OmniModel(cfg.model, cfg.vocab.build(), rngs=nnx.Rngs(params=seed))
