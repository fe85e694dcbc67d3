"""AdamW with a warmup + cosine/linear/constant schedule, global-norm clipping and a decay mask."""
from __future__ import annotations

import jax
import optax

from omni.config import Config, LoopConfig

# Parameters whose name matches one of these get no weight decay (norm scales, the token embedding and its
# code-digit vectors).
NO_DECAY_NAMES = ("embed", "embed_digits")
NO_DECAY_SUFFIX = "norm"


def _loop(cfg) -> tuple:
    """(train section, steps) of a MoT `Config` or of a `LoopConfig` (tokenizer jobs nest `steps` in it)."""
    t = getattr(cfg, "train", cfg)
    return t, (cfg.steps if hasattr(cfg, "steps") else t.steps)


def learning_rate_schedule(cfg: Config | LoopConfig) -> optax.Schedule:
    """Linear warmup from 0 to train.learning_rate, then decay to min_lr_ratio * lr at `steps`."""
    t, steps = _loop(cfg)
    peak, end = t.learning_rate, t.learning_rate * t.min_lr_ratio
    warmup = max(t.warmup_steps, 0)
    decay_steps = max(steps - warmup, 1)
    # Update k (0-based) of the warmup uses peak * (k + 1) / warmup: no wasted zero-LR first step.
    warm = optax.linear_schedule(peak / warmup, peak, warmup - 1) if warmup > 1 else optax.constant_schedule(peak)
    if t.schedule == "cosine":
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=t.min_lr_ratio)
    elif t.schedule == "linear":
        after = optax.linear_schedule(peak, end, decay_steps)
    elif t.schedule == "constant":
        after = optax.constant_schedule(peak)
    else:
        raise ValueError(f"train.schedule must be cosine, linear or constant, got {t.schedule!r}")
    return optax.join_schedules([warm, after], [warmup])


def decay_mask(params):
    """Pytree of bools like `params`: True where weight decay applies (not norms, not embeddings)."""
    def keep(path, _):
        name = str(getattr(path[-1], "key", getattr(path[-1], "name", path[-1])))
        return not (name in NO_DECAY_NAMES or name.endswith(NO_DECAY_SUFFIX))
    return jax.tree_util.tree_map_with_path(keep, params)


def make_optimizer(cfg: Config | LoopConfig) -> optax.GradientTransformation:
    """Clip by global norm (train.grad_clip > 0), then AdamW on fp32 master weights, at learning rate 1.

    The train step multiplies the update by the step's learning rate, a traced scalar computed on the
    host from `learning_rate_schedule`: -lr * (adam + wd * param) is exactly AdamW at lr, and changing
    the schedule, `steps` or the peak never recompiles. The state has the same structure whatever the
    values, so a run may resume with other settings.
    """
    t, _ = _loop(cfg)
    adamw = optax.adamw(1.0, b1=t.b1, b2=t.b2, eps=t.eps, weight_decay=t.weight_decay, mask=decay_mask)
    clip = optax.clip_by_global_norm(t.grad_clip) if t.grad_clip > 0 else optax.identity()
    return optax.chain(clip, adamw)
