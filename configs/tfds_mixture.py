"""base on a weighted mixture of public TFDS datasets instead of the built-in corpus (docs/training.md, pod recipe).

coco_captions (image + caption), librispeech (speech + transcript), ucf101 (video + action label as text)
and c4 (text). The same mixture feeds tokenizer training (`launch/train_tokenizer.py --data
tfds:configs/tfds_mixture.py`), tokenization (token_dir/<name> per dataset) and the MoT's task sampling
(datasets drawn by weight). TFDS prepares each dataset on first use (some need manual downloads: see
their TFDS catalog pages) and needs TensorFlow installed to construct these builders.
"""
import dataclasses

from configs.base import get_config as base_config
from omni.config import TfdsDatasetConfig

MIXTURE = (
    TfdsDatasetConfig(name="coco_captions", weight=2.0, features=(("image", "image"), ("text", "captions/text")),
                      splits=(("train", "train"), ("validation", "val"))),
    TfdsDatasetConfig(name="librispeech", weight=2.0, features=(("audio", "speech"), ("text", "text")),
                      splits=(("train", "train_clean360"), ("validation", "dev_clean")), sample_rate=16000),
    TfdsDatasetConfig(name="ucf101", weight=1.0, features=(("video", "video"), ("text", "label")),
                      splits=(("train", "train"), ("validation", "test"))),
    TfdsDatasetConfig(name="c4", weight=1.0, features=(("text", "text"),),
                      splits=(("train", "train"), ("validation", "validation"))),
)


def get_config():
    cfg = base_config()
    return dataclasses.replace(cfg, name="tfds_mixture", run_dir="runs/tfds_mixture/model",
                               data=dataclasses.replace(cfg.data, tfds_mixture=MIXTURE,
                                                        token_dir="runs/tfds_mixture/tokens",
                                                        tokenizer_dir="runs/tfds_mixture/tokenizers"))

