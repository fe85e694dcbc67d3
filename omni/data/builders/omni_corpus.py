"""TFDS builder `omni_corpus`: the built-in multimodal corpus, written as array_record from stage files.

Generation reads the per-source stage files made by `omni.data.corpus.build`; reading needs only the
written files (`omni.data.corpus.open_corpus`), never this class and never TensorFlow.
"""
from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from array_record.python.array_record_module import ArrayRecordReader

from omni.data.corpus.records import decode_example
from omni.data.corpus.schema import split_of

_Z = tfds.features.Encoding.ZLIB


def features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "id": tfds.features.Text(),
        "source": tfds.features.Text(),
        "item": tfds.features.Text(),
        "text": tfds.features.Text(),
        "label": tfds.features.Text(),
        "image": tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8, encoding=_Z),
        # 16-bit PCM on disk (the corpus audio is on the int16 grid, so this is lossless and half the size);
        # `open_corpus` returns it as float32 in [-1, 1].
        "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
        "video": tfds.features.Tensor(shape=(None, None, None, 3), dtype=np.uint8, encoding=_Z),
        "has_image": tfds.features.Tensor(shape=(), dtype=np.bool_),
        "has_audio": tfds.features.Tensor(shape=(), dtype=np.bool_),
        "has_video": tfds.features.Tensor(shape=(), dtype=np.bool_),
    })


def pcm16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] on the 1/32768 grid -> int16 (exact inverse of the reader's `/ 32768`)."""
    return np.clip(np.round(audio.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


class OmniCorpus(tfds.core.GeneratorBasedBuilder):
    """Examples of every source; `train`/`validation` fixed by a stable hash of each example's `item`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Tux Paint, GCompris, Asterisk, scikit-image, flite speech, KJV text, motion video."}

    SPLITS = ("train", "validation")

    def __init__(self, *, stage_files: Sequence[str] = (), validation_per_mille: int = 100,
                 corpus_metadata: dict[str, Any] | None = None, splits: Sequence[str] = SPLITS, **kwargs):
        self._stage_files = list(stage_files)
        self._splits = tuple(splits)  # TFDS cannot write an empty split: a tiny build may lack validation
        self._validation_per_mille = validation_per_mille
        self._corpus_metadata = dict(corpus_metadata or {})
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="omni built-in any-to-any corpus (images, speech, text, video) from offline packages.",
            features=features(),
            metadata=tfds.core.MetadataDict(self._corpus_metadata),
            license="per source; see metadata.json 'sources'",
        )

    def _split_generators(self, dl_manager):
        if not self._stage_files:
            raise ValueError("OmniCorpus needs stage_files (built by omni.data.corpus.build); got none")
        return {split: self._generate_examples(split) for split in self._splits}

    def _generate_examples(self, split: str):
        for path in self._stage_files:
            reader = ArrayRecordReader(str(path))
            try:
                n = reader.num_records()
                items_path = pathlib.Path(str(path).removesuffix(".array_record") + ".items.json")
                items = json.loads(items_path.read_text()) if items_path.exists() else None
                if items is not None and len(items) != n:
                    raise ValueError(f"{items_path} lists {len(items)} items for {n} records; rebuild the stage")
                for i in range(n):
                    if items is not None and split_of(items[i], self._validation_per_mille) != split:
                        continue  # decode only this split's records
                    ex = decode_example(reader.read([i])[0])
                    if split_of(ex["item"], self._validation_per_mille) == split:
                        ex["audio"] = pcm16(ex["audio"])
                        yield ex["id"], ex
            finally:
                reader.close()
