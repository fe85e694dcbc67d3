"""A weighted mixture of TFDS datasets (data.tfds_mixture) end to end on mock data: tokenizer fits read the
mixture -> tokenize (token_dir/<name> per dataset) -> the pipeline samples the datasets by weight -> (the recipe)
2 MoT steps.
configs/tfds_mixture.py (coco_captions, librispeech, ucf101, c4) runs the same path in a process that has
TensorFlow (TFDS needs it to construct those builders)."""
import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from omni.config import ConfigError, load_config
from omni.data import pipeline, tokenize
from tests.tfds_fixtures import TF_DIR, ByteText, prepare_tiny_speech


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    prepare_tiny_speech(d)
    return d

MIX = ('data.tfds_mixture=[{"name": "ai2dcaption", "weight": 3, "features": [["image", "image"], '
       '["text", "caption"]]}, {"name": "tiny_speech", "weight": 1, "features": [["audio", "speech"], '
       '["text", "transcript"]], "splits": [["train", "train"], ["validation", "test"]], "sample_rate": 8000, '
       '"data_dir": "%s"}]')


# the tiny model, reading tokens the tiny tokenizer presets wrote (their vocabularies)
TINY = ("data.token_dir=%(tmp)s/tokens", "data.source=tokens", "vocab.image=1024", "vocab.audio=128",
        "model.max_seq_len=512", "data.shard_size=4", "data.tokenize_batch_size=4", "train.batch_size=8",
        "train.seq_len=512", "train.eval_every=0", "train.log_every=1", 'data.mixture=[["any_to_any", 1]]',
        "run_dir=%(tmp)s/run")


def _cfg(tmp_path, speech, *extra):
    return load_config("tiny", [MIX % speech, *(o % {"tmp": tmp_path} for o in TINY), *extra])


def fit_tokenizers(out, cfg) -> dict:
    """A few steps of each tokenizer the mixture has media for (tiny presets), read from the mixture."""
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.image import ImageTokenizer
    from omni_tokenizers.trainers import preset, tfds_split, trainer
    from omni_tokenizers.video import VideoTokenizer
    have = {m for d in cfg.data.tfds_mixture for m in dict(d.features)}
    toks = {"text": ByteText()}
    for m, load in (("image", ImageTokenizer.load), ("video", VideoTokenizer.load), ("audio", AudioTokenizer.load)):
        if m not in have:
            continue
        job = preset(m, "tiny")
        job.train = dataclasses.replace(job.train, steps=2, log_every=1, checkpoint_every=2)
        job.eval_items = 2
        extra = {}
        if m == "audio":
            job.segment_seconds, extra = 0.1, {"baseline": False}
        trainer(m)(job, tfds_split(m, cfg, "train"), tfds_split(m, cfg, "validation"), out / m, progress=False,
                   **extra)
        toks[m] = load(out / m)
    return toks


def end_to_end(tmp_path, cfg, num_examples: int, train_steps: int = 2) -> dict:
    """On tfds.testing.mock_data: tokenizer fits -> tokenize_corpus -> `train_steps` MoT steps (0: none);
    what each stage left."""
    from omni.train import train

    with tfds.testing.mock_data(num_examples=num_examples):
        toks = fit_tokenizers(tmp_path / "tok", cfg)
        report = tokenize.tokenize_corpus(cfg, tokenizers=toks, progress=False)
    ds, _, _ = pipeline.open_source(cfg, "train")
    got = {"report": report, "tokenizers": sorted(toks), "sources": [ds[i]["source"] for i in range(16)],
           "meta": sorted(p.parent.name for p in (tmp_path / "tokens").glob("*/meta.json"))}
    if train_steps:
        out = train(dataclasses.replace(cfg, steps=train_steps, checkpoint_every=train_steps), progress=False)
        rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
        got.update(step=out["step"], train_steps=[r["step"] for r in rows if r["kind"] == "train"],
                   loss=rows[-1]["loss"])
    return got


@pytest.mark.integration
def test_mixture_fit_tokenize_and_sample_by_weight(tmp_path, speech_dir):
    """A mixture with a local dataset (split names, sample rate, data_dir); the MoT's steps on a mixture are
    the recipe test's (below), so none here."""
    got = end_to_end(tmp_path, _cfg(tmp_path, speech_dir), num_examples=8, train_steps=0)
    report = got["report"]
    assert set(report) == {"ai2dcaption", "tiny_speech"} and got["meta"] == ["ai2dcaption", "tiny_speech"]
    # mock_data stands in for both datasets (8 examples each, random content of their features)
    assert report["ai2dcaption"]["train"]["examples"] == 8 and report["tiny_speech"]["train"]["examples"] == 8
    # the MoT's records: the datasets sampled 3:1 by weight
    assert got["sources"].count("tfds:ai2dcaption") == 12 and got["sources"].count("tfds:tiny_speech") == 4


def test_mixture_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data.tfds_mixture\[0\].weight"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "weight": 0, "features": [["text", "t"]]}]'])
    with pytest.raises(ConfigError, match="unique"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "features": [["text", "t"]]}, '
                             '{"name": "x", "features": [["text", "t"]]}]'])
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config("tiny", ['data.tfds_mixture=[{"name": "x", "features": [["text", "t"]]}]', "data.tfds_name=y",
                             'data.tfds_features=[["text", "t"]]'])


RECIPE_RUN = """
import dataclasses, json, pathlib, sys
from configs.tfds_mixture import MIXTURE
from omni.config import load_config
from tests.test_data_mixture import TINY, end_to_end
tmp = pathlib.Path(sys.argv[1])
cfg = load_config("tiny", [o % {"tmp": tmp} for o in TINY] + ["vocab.video=1000"])
cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, tfds_mixture=MIXTURE))
print("RESULT " + json.dumps(end_to_end(tmp, cfg, num_examples=4)))
"""


@pytest.mark.integration
def test_recipe_runs_end_to_end_on_mock_data(tmp_path):
    """configs/tfds_mixture.py's datasets (coco_captions, librispeech, ucf101, c4) on mock data, on the tiny
    model: tokenizer fits -> tokenize -> 2 MoT steps. TFDS constructs those builders only with TensorFlow,
    which `make setup-tensorflow` puts beside the venv; the run gets it on PYTHONPATH in its own process."""
    from omni.config import load_config

    assert [d.name for d in load_config("tfds_mixture").data.tfds_mixture] == [
        "coco_captions", "librispeech", "ucf101", "c4"]
    assert (TF_DIR / "tensorflow").is_dir(), f"TensorFlow is not in {TF_DIR}: run `make setup-tensorflow`"
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TF_DIR), str(root)]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", RECIPE_RUN, str(tmp_path)], cwd=root, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))[7:])
    names = ["coco_captions", "librispeech", "ucf101", "c4"]
    assert set(got["report"]) == set(names) and got["meta"] == sorted(names)
    assert got["tokenizers"] == ["audio", "image", "text", "video"]
    for name in names:
        assert got["report"][name]["train"]["examples"] == 4
    # sampled by weight 2:2:1:1 over 16 records
    counts = {n: got["sources"].count(f"tfds:{n}") for n in names}
    assert sum(counts.values()) == 16 and counts["coco_captions"] > counts["ucf101"], counts
    assert got["step"] == 2 and got["train_steps"] == [1, 2] and np.isfinite(got["loss"])
