"""A training run directory -> an inference bundle: params of one checkpoint (no optimizer state), the
run's config, its tokenizers and its held-out metrics (recorded by the trainer, or computed now)."""
from __future__ import annotations

import pathlib

from flax import nnx

from omni.sampling import bundle
from omni.train.checkpoint import load_params
from omni.train.evaluate import evaluate
from omni.train.metrics import read_metrics
from omni.train.state import abstract_params


def recorded_metrics(run_dir, step: int) -> tuple[dict[str, float], int | None]:
    """The last `eval/...` record at or before `step` in the run's metrics.jsonl, and its step."""
    rows = [r for r in read_metrics(run_dir) if r.get("kind") == "eval" and int(r.get("step", -1)) <= step]
    if not rows:
        return {}, None
    last = max(rows, key=lambda r: int(r["step"]))
    keep = {k: float(v) for k, v in last.items()
            if k.startswith("eval/") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return keep, int(last["step"])


def default_tokenizer_dir(cfg) -> pathlib.Path | None:
    """The run's tokenizers (data.tokenizer_dir) when it trained on token shards; None for synthetic data."""
    if cfg.data.source == "synthetic":
        return None
    d = pathlib.Path(cfg.data.tokenizer_dir)
    if not d.is_dir():
        raise bundle.BundleError(f"the run's tokenizers are not at {d} (data.tokenizer_dir); pass the folder "
                                 f"with --tokenizers DIR, or --no-tokenizers for a tokens-only bundle")
    return d


def export_run(run_dir, out, *, step: int | None = None, dtype: str = "float32", tokenizer_dir=None,
               tokenizers: bool = True, eval_batches: int = 0, overwrite: bool = False) -> pathlib.Path:
    """Exports checkpoint `step` (default: latest) of `run_dir` to the bundle folder `out`.

    Held-out metrics come from the trainer's eval records unless `eval_batches` > 0 (computed now).
    """
    if not pathlib.Path(run_dir).is_dir():
        raise bundle.BundleError(f"no run directory at {run_dir}")
    params, cfg, step = load_params(run_dir, step)
    tok_dir = None
    if tokenizers:
        tok_dir = pathlib.Path(tokenizer_dir) if tokenizer_dir is not None else default_tokenizer_dir(cfg)
    if eval_batches > 0:
        model = nnx.merge(abstract_params(cfg)[0], params)
        metrics = {f"eval/{k}": v for k, v in evaluate(model, cfg, "validation", eval_batches).items()
                   if not k.startswith("tokens/")}
        note = f"Held-out metrics computed at export on {eval_batches} validation batches."
    else:
        metrics, at = recorded_metrics(run_dir, step)
        note = (f"Held-out metrics recorded by the trainer at step {at}." if at is not None else
                "The run recorded no held-out evaluation up to this step.")
    return bundle.export(out, config=cfg, params=params, step=step, tokenizer_dir=tok_dir, metrics=metrics,
                         dtype=dtype, notes=note, overwrite=overwrite)
