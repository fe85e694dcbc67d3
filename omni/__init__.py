"""omni: an any-to-any multimodal foundation model in JAX.

`omni.load(bundle)` and `omni.sample(model, prompt, to=...)` are the inference API; the training
stack lives in `omni.train`, data in `omni.data`, the model in `omni.model`.
"""
from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: importing omni must stay cheap (no jax compile, no tokenizer load).
    if name == "load":
        from omni.sampling.bundle import load
        return load
    if name == "sample":
        from omni.sampling.sample import sample
        return sample
    raise AttributeError(f"module 'omni' has no attribute {name!r}")
