"""A tokenizer fit as a task of omni's one training loop (`omni.train`): no loop of its own here.

`tokenizer_task(...)` turns a tokenizer's model, loss, item stream and held-out eval into a
`ModuleTask`; `fit(...)` runs it with `omni.train.run_task` in `out_dir/train`, which then holds what
every run dir holds: config.json, metrics.jsonl + TensorBoard (loss terms, grad norm, lr, examples/s,
FLOP/s from the compiled step's cost analysis), orbax async checkpoints with the data-iterator state;
resume is exact, SIGTERM saves and stops, non-finite steps are skipped, the mesh comes from the job's
`mesh` section (data-parallel, fsdp for large weights) and multi-process runs use jax.distributed.
At the end the tokenizer (config.json + safetensors) and eval.json are written to out_dir.
"""
from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from flax import nnx
from omni_tokenizers.core.data import MediaStream

from omni.train.checkpoint import Checkpointer
from omni.train.distributed import is_main
from omni.train.loop import run_task
from omni.train.module_task import ModuleTask, Part


def tokenizer_task(name: str, job, tok, loss_fn: Callable, items: Sequence,
                   transform: Callable, out_dir: str | pathlib.Path,
                   evaluate: Callable[[Any], dict] | None = None,
                   final: Callable[[Any, dict], dict] | None = None,
                   init: Callable[[], nnx.Module] | None = None,
                   critics: dict[str, Part] | None = None) -> ModuleTask:
    """The fit of `tok.model` on `items` as a `ModuleTask`.

    loss_fn(model, batch, key) -> (loss, {name: scalar}); transform(item, rng) -> one example's dict (or None
    to drop it); evaluate(tok) -> held-out metrics (tok holds the current weights); final(tok, result) ->
    the report written to eval.json (default: the held-out metrics at the last step). `init` builds the
    untrained model inside jit (default: a module like tok.model, initialized as the tokenizer does).
    `critics` are parts trained before the model within each step (discriminators); with them `loss_fn` is
    called as loss_fn(model, batch, key, models), `models` holding every part's current module.
    """
    out_dir = pathlib.Path(out_dir)
    if init is None:  # the tokenizer's current weights as the start (embedded in the init program)
        graphdef, state = nnx.split(tok.model)
        init = lambda: nnx.merge(graphdef, state)  # noqa: E731

    def data(seed, process_index, process_count):
        return MediaStream(items, transform, job.train.batch_size // process_count, seed=seed,
                           process_index=process_index, process_count=process_count)

    def load(models):
        nnx.update(tok.model, nnx.state(models["model"]))
        tok.refresh()
        return tok

    def run_eval(models):
        return evaluate(load(models)) if evaluate is not None else {}

    def finish(models, result):
        t = load(models)
        if final is not None:
            report = final(t, result)
        else:
            held = result["eval"] if result.get("eval_step") == job.train.steps else (evaluate(t) if evaluate else {})
            result = dict(result, eval=held)
            report = {"step": result["step"], **held}
        if is_main():
            t.save(out_dir)
            (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
        return dict(result, report=report)

    return ModuleTask(name, job, out_dir / "train", tokenizer_parts(init, loss_fn, critics), data,
                      evaluate=run_eval, finish=finish)


def tokenizer_parts(init: Callable[[], nnx.Module], loss_fn: Callable,
                    critics: dict[str, Part] | None = None) -> dict[str, Part]:
    """The parts of a tokenizer fit: `critics` (trained first in each step), then "model" with `loss_fn`
    (model, batch, key) -> (loss, aux), called with a fourth argument, every part's module, when there are critics."""
    critics = dict(critics or {})
    if "model" in critics:
        raise ValueError("a critic part cannot be named 'model' (the tokenizer's part)")
    if critics:
        part = Part(init=init, loss=lambda models, batch, key: loss_fn(models["model"], batch, key, models))
    else:
        part = Part(init=init, loss=lambda models, batch, key: loss_fn(models["model"], batch, key))
    return {**critics, "model": part}


def fit(name: str, job, tok, loss_fn: Callable, items: Sequence, transform: Callable,
        out_dir: str | pathlib.Path, *, evaluate=None, final=None, init=None, critics=None,
        progress: bool = True, until: int | None = None) -> dict:
    """Trains `tok` through the one loop; returns run_task's result, plus "report" (eval.json) once the
    last step is done (then `tok` holds the trained weights; a run stopped early by `until` or SIGTERM
    leaves them in the checkpoint and a rerun resumes)."""
    task = tokenizer_task(name, job, tok, loss_fn, items, transform, out_dir, evaluate, final, init, critics)
    return run_task(task, progress=progress, until=until)


def restore_models(task: ModuleTask, step: int | None = None) -> dict[str, nnx.Module]:
    """The modules of the latest (or given) checkpoint of `task`'s run dir, non-parameter variables included."""
    task.make_mesh()
    ck = Checkpointer(task.run_dir, async_save=False)
    try:
        step = ck.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoints under {ck.directory}")
        state, _, _ = ck.restore(step, task.abstract_state())
    finally:
        ck.close()
    return task.host_models(state)
