"""Training at scale: sharded train state, jitted steps, orbax checkpoints, multi-host, metrics.

Public entry points: `train(cfg)` (launch/train.py), `load_model(run_dir, step=None, mesh=None)` and
`load_params(...)` (export/sampling), `latest_step(run_dir)`; `omni.train.evaluate.evaluate(model, cfg, split,
batches)` (a submodule of the same name, so it is not re-exported here).

Lazy (PEP 562): importing the package imports no submodule, so an entry point can import
`omni.train.preemption` and install its SIGTERM handler before jax is imported.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"train": "loop", "NonFiniteError": "loop", "load_model": "checkpoint", "load_params": "checkpoint",
            "latest_step": "checkpoint"}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"omni.train.{_EXPORTS[name]}"), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'omni.train' has no attribute {name!r}")
