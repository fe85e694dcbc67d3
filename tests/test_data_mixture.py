"""A weighted mixture of TFDS datasets (data.tfds_mixture) end to end on mock data: tokenizer fits read the
mixture -> tokenize (token_dir/<name> per dataset) -> the MoT samples the datasets by weight for 2 steps.
configs/tfds_mixture.py (coco_captions, librispeech, ucf101, c4) runs the same path where TensorFlow is
installed (TFDS needs it to construct those builders)."""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from omni.config import ConfigError, load_config
from omni.data import pipeline, tokenize
from tests.tfds_fixtures import ByteText, prepare_tiny_speech


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    prepare_tiny_speech(d)
    return d

MIX = ('data.tfds_mixture=[{"name": "ai2dcaption", "weight": 3, "features": [["image", "image"], '
       '["text", "caption"]]}, {"name": "tiny_speech", "weight": 1, "features": [["audio", "speech"], '
       '["text", "transcript"]], "splits": [["train", "train"], ["validation", "test"]], "sample_rate": 8000, '
       '"data_dir": "%s"}]')


def _cfg(tmp_path, speech, *extra):
    return load_config("tiny", [MIX % speech, f"data.token_dir={tmp_path / 'tokens'}", "data.source=tokens",
                                "vocab.image=1024", "vocab.audio=128", "model.max_seq_len=512", "data.shard_size=4",
                                "data.tokenize_batch_size=4",
                                "train.batch_size=8", "train.seq_len=512", "train.eval_every=0", "train.log_every=1",
                                'data.mixture=[["any_to_any", 1]]', f"run_dir={tmp_path / 'run'}", *extra])


def _fit(tmp_path, cfg):
    from omni_tokenizers import audio_train, image_train
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.image import ImageTokenizer
    from omni_tokenizers.trainers import tfds_split

    from configs.tokenizers_audio import get_config
    job = image_train.preset("tiny")
    job.train = dataclasses.replace(job.train, steps=3, log_every=1, checkpoint_every=3)
    job.eval_items = 2
    image_train.train(job, tfds_split("image", cfg, "train"), tfds_split("image", cfg, "validation"),
                      tmp_path / "tok" / "image", progress=False)
    ajob = get_config("tiny")
    ajob.train = dataclasses.replace(ajob.train, steps=2, log_every=1, checkpoint_every=2)
    ajob.eval_items, ajob.segment_seconds = 2, 0.1
    audio_train.train(ajob, tfds_split("audio", cfg, "train"), tfds_split("audio", cfg, "validation"),
                      tmp_path / "tok" / "audio", progress=False, baseline=False)
    return {"text": ByteText(), "image": ImageTokenizer.load(tmp_path / "tok" / "image"),
            "audio": AudioTokenizer.load(tmp_path / "tok" / "audio")}


def test_mixture_fit_tokenize_and_two_mot_steps(tmp_path, speech_dir):
    from omni.train import train

    cfg = _cfg(tmp_path, speech_dir)
    with tfds.testing.mock_data(num_examples=8):
        toks = _fit(tmp_path, cfg)
        report = tokenize.tokenize_corpus(cfg, tokenizers=toks, progress=False)
    assert set(report) == {"ai2dcaption", "tiny_speech"}
    # mock_data stands in for both datasets (8 examples each, random content of their features)
    assert report["ai2dcaption"]["train"]["examples"] == 8 and report["tiny_speech"]["train"]["examples"] == 8
    for name in report:
        assert (tmp_path / "tokens" / name / "meta.json").is_file()
    # the MoT's records: the datasets sampled 3:1 by weight
    ds, _, _ = pipeline.open_source(cfg, "train")
    sources = [ds[i]["source"] for i in range(16)]
    assert sources.count("tfds:ai2dcaption") == 12 and sources.count("tfds:tiny_speech") == 4
    out = train(dataclasses.replace(cfg, steps=2, checkpoint_every=2), progress=False)
    assert out["step"] == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2] and np.isfinite(rows[-1]["loss"])


def test_mixture_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data.tfds_mixture\[0\].weight"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "weight": 0, "features": [["text", "t"]]}]'])
    with pytest.raises(ConfigError, match="unique"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "features": [["text", "t"]]}, '
                             '{"name": "x", "features": [["text", "t"]]}]'])
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "features": [["text", "t"]]}]', "data.tfds_name=y",
                             'data.tfds_features=[["text", "t"]]'])


def test_recipe_runs_on_mock_data(tmp_path):
    """configs/tfds_mixture.py's datasets on mock data: TFDS constructs their builders only with TensorFlow."""
    pytest.importorskip("tensorflow")
    cfg = load_config("tfds_mixture", [f"data.token_dir={tmp_path / 'tokens'}"])
    names = [d.name for d in cfg.data.tfds_mixture]
    assert names == ["coco_captions", "librispeech", "ucf101", "c4"]
    with tfds.testing.mock_data(num_examples=4):
        report = tokenize.tokenize_corpus(cfg, tokenizers={"text": ByteText()}, splits=("train",), progress=False)
    assert set(report) == set(names)
