"""One entry per modality: its trainer module, its presets, and how its corpus data is loaded.

A trainer module defines `train(job, train_items, eval_items, out_dir, progress, until) -> dict`; its
presets come from `preset(name)` in the module, or else from `configs/tokenizers_<modality>.py`'s
`get_config(name)`.
"""
from __future__ import annotations

import importlib
import pathlib
from typing import Any

from omni_tokenizers.base import MODALITIES

TRAINERS: dict[str, str] = {
    "text": "omni_tokenizers.text_train",
    "image": "omni_tokenizers.image_train",
    "audio": "omni_tokenizers.audio_train",
    "video": "omni_tokenizers.video_train",
}
CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


def trainer(modality: str):
    if modality not in TRAINERS:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return importlib.import_module(TRAINERS[modality])


def load_config_file(path: pathlib.Path):
    from omni.config import exec_config_file
    return exec_config_file(path, "omni_tokcfg")


def preset(modality: str, name: str) -> Any:
    """The typed job config of `modality` for preset `name` ("tiny" | "demo")."""
    module = trainer(modality)
    if hasattr(module, "preset"):
        return module.preset(name)
    path = CONFIG_DIR / f"tokenizers_{modality}.py"
    if not path.is_file():
        raise ValueError(f"no presets for {modality}: {module.__name__} has no preset() and {path} is missing")
    return load_config_file(path).get_config(name)


def corpus_split(modality: str, data_dir: str | pathlib.Path, split: str, limit: int | None = None,
                 index: bool = False):
    """The modality's items of one corpus split as a lazily read sequence (None where an example has none;
    with `index`, only the examples that have it); `limit` keeps the first `limit` examples."""
    from omni_tokenizers.data import corpus_field
    return corpus_field(data_dir, split, modality, limit, index)


def tfds_split(modality: str, cfg, split: str):
    """The modality's items of one split of the TFDS dataset or mixture a MoT config names
    (data.tfds_name / data.tfds_mixture), read lazily; a mixture samples its datasets by weight."""
    from omni_tokenizers.data import FieldSource, Mixture

    from omni.data.tfds_source import open_dataset, open_tfds
    if cfg.data.tfds_mixture:
        parts = [(FieldSource(open_dataset(d, split), modality), d.weight) for d in cfg.data.tfds_mixture
                 if modality in dict(d.features)]
        if not parts:
            raise ValueError(f"no dataset of data.tfds_mixture maps a feature to {modality}")
        return Mixture(parts)
    if cfg.data.tfds_name and modality in dict(cfg.data.tfds_features):
        return FieldSource(open_tfds(cfg, split), modality)
    raise ValueError(f"the config names no TFDS dataset with a {modality} feature (data.tfds_name/tfds_mixture)")
