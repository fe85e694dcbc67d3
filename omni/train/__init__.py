"""Training at scale: sharded train state, jitted steps, orbax checkpoints, multi-host, metrics.

Public entry points: `train(cfg)` (launch/train.py), `load_model(run_dir, step=None, mesh=None)` and
`load_params(...)` (export/sampling), `latest_step(run_dir)`, `evaluate(model, cfg, split, batches)`.
"""
from omni.train.checkpoint import latest_step, load_model, load_params
from omni.train.evaluate import evaluate
from omni.train.loop import NonFiniteError, train

__all__ = ["train", "NonFiniteError", "load_model", "load_params", "latest_step", "evaluate"]
