"""One trainer per modality, its presets, and how its corpus data is loaded.

`TRAINERS` (an `omni.registry.Registry`) maps modality -> `train(job, train_items, eval_items, out_dir,
progress, until) -> dict`, registered where it is defined (`@TRAINERS.register("image", config=ImageTrainConfig)`
in omni_tokenizers/image/train.py; its module is imported on first use). Presets are typed job configs in
`configs/tokenizers_<modality>.py`: `get_config(name)` for name in tiny | demo | base.
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from omni_tokenizers.core.base import MODALITIES
from omni_tokenizers.core.data import FieldSource, Mixture, corpus_field

from omni.config import exec_config_file
from omni.data.tfds_source import open_dataset, open_tfds
from omni.registry import Registry

TRAINERS: Registry[Callable[..., dict]] = Registry("tokenizer trainer", package="omni_tokenizers",
                                                   modules={m: f"{m}.train" for m in MODALITIES})
CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


def _check(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def trainer(modality: str) -> Callable[..., dict]:
    """The modality's `train(job, train_items, eval_items, out_dir, progress=True, until=None) -> dict`."""
    _check(modality)
    return TRAINERS.get(modality)


def job_class(modality: str) -> type:
    """The typed job config (dataclass) the modality's trainer takes."""
    _check(modality)
    return TRAINERS.meta(modality)["config"]


def load_config_file(path: pathlib.Path):
    return exec_config_file(path, "omni_tokcfg")


def preset(modality: str, name: str) -> Any:
    """The typed job config of `modality` for preset `name` ("tiny" | "demo" | "base"):
    configs/tokenizers_<modality>.py's `get_config(name)`."""
    _check(modality)
    return load_config_file(CONFIG_DIR / f"tokenizers_{modality}.py").get_config(name)


def corpus_split(modality: str, data_dir: str | pathlib.Path, split: str, limit: int | None = None,
                 index: bool = False, source_weights: tuple[tuple[str, float], ...] = ()):
    """The modality's items of one corpus split as a lazily read sequence (None where an example has none;
    with `index`, only the examples that have it); `limit` keeps the first `limit` examples;
    `source_weights` (the job's) draws each corpus source's items that many times per epoch."""
    return corpus_field(data_dir, split, modality, limit, index, source_weights)


def tfds_split(modality: str, cfg, split: str):
    """The modality's items of one split of the TFDS dataset or mixture a MoT config names
    (data.tfds_name / data.tfds_mixture), read lazily; a mixture samples its datasets by weight."""
    if cfg.data.tfds_mixture:
        parts = [(FieldSource(open_dataset(d, split), modality), d.weight) for d in cfg.data.tfds_mixture
                 if modality in dict(d.features)]
        if not parts:
            raise ValueError(f"no dataset of data.tfds_mixture maps a feature to {modality}")
        return Mixture(parts)
    if cfg.data.tfds_name and modality in dict(cfg.data.tfds_features):
        return FieldSource(open_tfds(cfg, split), modality)
    raise ValueError(f"the config names no TFDS dataset with a {modality} feature (data.tfds_name/tfds_mixture)")
