"""Shared TFDS test material: a TF-free speech dataset builder (registered once, under `tiny_speech`) and a
byte-level text tokenizer stand-in."""
import pathlib
import sys

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

TF_DIR = pathlib.Path(sys.prefix) / "tensorflow"  # `make setup-tensorflow`: TensorFlow beside site-packages


class ByteText:
    vocab_size = 256

    def encode(self, texts):
        return [np.frombuffer(t.encode("utf-8"), np.uint8).astype(np.int32) for t in texts]


class TinySpeech(tfds.core.GeneratorBasedBuilder):
    """5 train / 3 test clips of a tone whose length grows with the index (int16 at 8 kHz + transcript)."""

    VERSION = tfds.core.Version("1.0.0")
    pkg_dir_path = epath.Path(__file__).parent

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "speech": tfds.features.Tensor(shape=(None,), dtype=np.int16),
            "transcript": tfds.features.Text()}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(5), "test": self._generate_examples(3)}

    def _generate_examples(self, n):
        for i in range(n):
            t = np.arange(1000 + 700 * i)
            yield i, {"speech": (np.sin(t * 0.05 * (i + 1)) * 12000).astype(np.int16), "transcript": f"say {i}"}


def prepare_tiny_speech(directory) -> None:
    TinySpeech(data_dir=str(directory), file_format="array_record").download_and_prepare()
