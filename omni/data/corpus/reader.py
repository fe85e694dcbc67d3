"""Read the built corpus: `open_corpus(data_dir, split)` (random access, TF-free) and `corpus_metadata`."""
from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from omni.data.corpus.schema import FIELDS

DATASET = "omni_corpus"
SPLITS = ("train", "validation")


def dataset_dir(data_dir: str | pathlib.Path) -> pathlib.Path:
    """The newest version folder `<data_dir>/omni_corpus/<version>` holding a finished build."""
    root = pathlib.Path(data_dir) / DATASET
    versions = sorted((p for p in root.glob("*.*.*") if (p / "dataset_info.json").exists()),
                      key=lambda p: tuple(int(x) for x in p.name.split(".")))
    if not versions:
        raise FileNotFoundError(f"no built {DATASET} under {root}: expected {root}/<version>/dataset_info.json "
                                f"(build it with `python launch/build_corpus.py --out {data_dir}`)")
    return versions[-1]


class CorpusSource:
    """Random-access sequence of examples: dicts with exactly `schema.FIELDS`, numpy values, str text."""

    def __init__(self, data_dir: str | pathlib.Path, split: str):
        import tensorflow_datasets as tfds  # heavy (TFDS): only opening a split needs it, not the metadata readers

        self.data_dir, self.split = str(data_dir), split
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        builder = tfds.builder_from_directory(str(dataset_dir(data_dir)))
        # A split with no examples is not written (tiny builds); it reads as empty.
        self._source = builder.as_data_source(split=split) if split in builder.info.splits else []

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        return _to_example(self._source[index % len(self)])

    def __getitems__(self, indices) -> list[dict[str, Any]]:
        return [self[i] for i in indices]

    def __repr__(self) -> str:
        return f"CorpusSource({self.data_dir!r}, {self.split!r}, n={len(self)})"


def _to_example(raw: dict[str, Any]) -> dict[str, Any]:
    ex = {}
    for k in FIELDS:
        v = raw[k]
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif k.startswith("has_"):
            v = bool(v)
        ex[k] = v
    ex["audio"] = np.asarray(ex["audio"]).astype(np.float32) / 32768.0  # stored as 16-bit PCM
    for k, empty in (("image", (0, 0, 3)), ("audio", (0,)), ("video", (0, 0, 0, 3))):
        if not ex[k].size:  # absent media always have the schema's empty shape
            ex[k] = np.zeros(empty, ex[k].dtype)
    return ex


def open_corpus(data_dir: str | pathlib.Path, split: str = "train") -> CorpusSource:
    """Open split `train` or `validation` of the corpus built under TFDS data_dir `data_dir`."""
    return CorpusSource(data_dir, split)


def corpus_metadata(data_dir: str | pathlib.Path) -> dict[str, Any]:
    """Build metadata: per-source license, counts and skip reasons, media spec, totals per split."""
    path = dataset_dir(data_dir) / "metadata.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: the corpus under {data_dir} was not built by omni")
    return json.loads(path.read_text())
