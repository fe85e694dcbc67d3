"""The MoT as a task of the one training loop: `Config` -> model, packed token batches, held-out loss."""
from __future__ import annotations

import pathlib

from flax import nnx

from omni import modality as mod
from omni.config import Config, config_to_json, from_dict
from omni.data.pipeline import make_iterator
from omni.model import model_stats
from omni.train.checkpoint import check_compatible
from omni.train.evaluate import evaluate
from omni.train.mesh import batch_shardings, plan_run
from omni.train.optimizer import learning_rate_schedule, make_optimizer
from omni.train.state import abstract_params, abstract_train_state, create_train_state, mot_state_shardings
from omni.train.step import make_train_step
from omni.train.task import Task


class MoTTask(Task):
    item_unit = "tokens"

    def __init__(self, cfg: Config):
        self.cfg = self.config = cfg
        self.name = cfg.name
        self.run_dir = pathlib.Path(cfg.run_dir)
        self.steps, self.checkpoint_every, self.seed, self.train = cfg.steps, cfg.checkpoint_every, cfg.seed, cfg.train
        self.items_per_step = cfg.train.batch_size * cfg.train.seq_len
        self.stats = model_stats(cfg, cfg.train.seq_len)
        self.prefetch = cfg.data.prefetch

    def make_mesh(self):
        # self.rcfg: the config as laid out on this mesh; a bad mesh, batch or data source stops here, before any file
        cfg = self.cfg
        self.mesh, self.rcfg = plan_run(cfg, ("train", "validation") if cfg.train.eval_every else ("train",))
        self.tx = make_optimizer(self.rcfg)
        self.graphdef, _ = abstract_params(self.rcfg)
        return self.mesh

    def check_resume(self, saved_config: dict, where: str):
        check_compatible(from_dict(Config, saved_config), self.cfg, where)

    def config_json(self) -> str:
        return config_to_json(self.cfg)

    def schedule(self):
        return learning_rate_schedule(self.cfg)

    def init_state(self):
        self.graphdef, state = create_train_state(self.rcfg, self.mesh, self.tx)
        return state

    def abstract_state(self):
        return abstract_train_state(self.rcfg, self.mesh, self.tx)

    def batch_shardings(self):
        return batch_shardings(self.rcfg, self.mesh)

    def data(self, seed: int):
        return make_iterator(self.cfg, "train", seed=seed)

    def make_step(self):
        return make_train_step(self.rcfg, self.graphdef, self.tx, self.mesh,
                               mot_state_shardings(self.rcfg, self.mesh, self.tx))

    def flops_per_item(self, compiled) -> float:
        return self.stats.train_flops_per_token  # analytic (XLA's compiled count differs by ~0.15%)

    def train_record(self, m) -> dict:
        rec = {"loss": float(m["loss"]), "nll": float(m["nll"]), "z_loss": float(m["z_loss"])}
        for name in mod.names():
            if float(m[f"tokens/{name}"]) > 0:
                rec[f"loss/{name}"] = float(m[f"loss/{name}"])
        rec["loss_tokens"] = float(m["tokens"])
        return rec

    def data_record(self, feed) -> dict:
        return {"padding_fraction": float(feed.stats().get("padding_fraction", 0.0))}

    def evaluate(self, state) -> dict[str, float]:
        res = evaluate(nnx.merge(self.graphdef, state.params), self.rcfg, "validation", self.cfg.train.eval_batches)
        return {k: v for k, v in res.items() if not k.startswith("tokens/")}

    def summary(self) -> str:
        return f"{self.cfg.name}: {self.stats.summary()}"
