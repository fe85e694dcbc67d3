"""Untrained-but-valid NNX modules with weights drawn on the host (benchmarks and tests).

`nnx.eval_shape` builds the module without computing anything, then NumPy fills it. This skips XLA's
per-initializer compiles, which on CPU cost far more time than a benchmark's or a test's real work.
"""
from __future__ import annotations

import numpy as np


def random_module(factory, seed: int, std: float | None = None):
    """`factory()` with norms/scales 1, biases 0, flags True, other arrays normal(0, std) (default
    1/sqrt(fan-in), fan-in = product of all but the last axis)."""
    import jax  # on use: this module imports without JAX
    from flax import nnx  # on use: this module imports without JAX
    graphdef, state = nnx.split(nnx.eval_shape(factory))
    rng = np.random.default_rng(seed)
    flat = nnx.to_flat_state(state)
    for path, v in flat:
        x, name = v.get_value(), str(path[-1])
        if x.dtype == bool:
            a = np.ones(x.shape, bool)
        elif "norm" in name or name in ("scale", "cluster_size"):
            a = np.ones(x.shape, x.dtype)
        elif name == "bias" or x.ndim < 2:
            a = np.zeros(x.shape, x.dtype)
        else:
            sd = std if std is not None else 1.0 / np.sqrt(np.prod(x.shape[:-1]))
            a = (rng.standard_normal(x.shape) * sd).astype(x.dtype)
        v.set_value(jax.numpy.asarray(a))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def random_omni_model(cfg, seed: int = 0):
    """The OmniModel of a full Config with random weights (std = model.init_std)."""
    from flax import nnx  # on use: this module imports without JAX

    from omni.model import OmniModel
    return random_module(lambda: OmniModel(cfg.model, cfg.vocab.build(), rngs=nnx.Rngs(params=0)), seed,
                         cfg.model.init_std)
