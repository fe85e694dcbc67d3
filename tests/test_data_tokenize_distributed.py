"""launch/tokenize_corpus.py on 2 processes x 4 devices writes token shards byte-identical to 1 process x 1
device; a killed process's unfinished shards are redone on rerun and finished ones are kept."""
import json
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from omni.data import token_shards as ts
from omni.data.corpus import CorpusConfig, make_example
from omni.data.corpus.build import _write_tfds
from omni.data.corpus.stage import Stage
from tests import train_utils as tu

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _corpus(d: pathlib.Path):
    rng = np.random.default_rng(0)
    exs = []
    for i in range(36):
        kw = {}
        if i % 3 == 0:
            kw["image"] = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        if i % 3 == 1:
            kw["audio"] = (np.round(rng.uniform(-0.5, 0.5, 3000 + 97 * i) * 32767) / 32768).astype(np.float32)
        if i % 4 == 0:
            kw["video"] = rng.integers(0, 255, (9, 32, 32, 3), dtype=np.uint8)
        exs.append(make_example(id=f"t/{i}", source="toy", item=f"toy/item{i}", text=f"the cat {i} runs", **kw))
    stage = Stage(d / "stage", "toy", "k1")
    stage.write(iter(exs), lambda: {"license": "test"})
    _write_tfds(CorpusConfig(out=d / "corpus", cache=d / "cache"), [str(stage.records)],
                {"corpus_key": "abc", "sources": {"toy": stage.summary()}, "splits": {"train": 1, "validation": 1}})
    return d / "corpus"


def _tokenizers(d: pathlib.Path):
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.audio.codec import AudioCodecConfig
    from omni_tokenizers.image import ImageTokenizer, ImageTokenizerConfig
    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig
    from omni_tokenizers.video import VideoTokenizer, VideoTokenizerConfig

    words = "the a cat dog runs over red blue small big bird fish sings".split()
    rng = np.random.default_rng(1)
    TextTokenizer.train([" ".join(rng.choice(words, 6)) for _ in range(200)],
                        TextTokenizerConfig(vocab_size=280)).save(d / "text")
    ImageTokenizer(ImageTokenizerConfig(channels=(8, 8), levels=(5, 5))).save(d / "image")
    VideoTokenizer(VideoTokenizerConfig(channels=(8, 8), kts=(1, 3), levels=(5, 5), frame_size=32)).save(d / "video")
    AudioTokenizer(AudioCodecConfig(channels=16, enc_blocks=1, dec_blocks=1, latent_dim=8, num_quantizers=2,
                                    codebook_size=16)).save(d / "audio")
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _cmd(corpus, toks, out, *extra):
    return [sys.executable, str(ROOT / "launch" / "tokenize_corpus.py"), "--config", "tiny", "--no-progress",
            f"data.corpus_dir={corpus}", f"data.tokenizer_dir={toks}", f"data.token_dir={out}", "data.shard_size=4",
            "data.tokenize_batch_size=2", "vocab.text=300", *extra]


def _files(d: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.array_record"))}


@pytest.mark.integration
@pytest.mark.xdist_group("multihost")
def test_two_processes_four_devices_write_the_shards_of_one(tmp_path):
    corpus, toks = _corpus(tmp_path), _tokenizers(tmp_path / "tok")
    one = tmp_path / "one"
    r = subprocess.run(_cmd(corpus, toks, one, "--devices", "1"), env=tu.env(devices=1),
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    port, two = _free_port(), tmp_path / "two"
    procs = [subprocess.Popen(_cmd(corpus, toks, two, "--devices", "4"), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env=tu.env(devices=4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                                         JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=i)) for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[-2000:] for o in outs]
    a, b = _files(one), _files(two)
    assert len(a) >= 8 and a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]  # byte-identical
    for split in ("train", "validation"):
        m1, m2 = ts.read_manifest(one, split), ts.read_manifest(two, split)
        assert m1["done"] and m2["done"] and m1["shards"] == m2["shards"]

    # a "killed" run: shard 1 and the manifest lost -> a rerun redoes exactly that shard, keeps the others
    ts.done_path(two, "train", 1).unlink()
    ts.manifest_path(two, "train").unlink()
    kept = (two / "train-00000.array_record").stat().st_mtime_ns
    assert not ts.read_manifest(two, "train")["done"]
    r = subprocess.run(_cmd(corpus, toks, two, "--devices", "1", "--json", "--splits", "train"),
                       env=tu.env(devices=1), cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])["train"]
    assert rep["shards_written"] == 1 and rep["resumed_shards"] == rep["shards"] - 1
    assert (two / "train-00000.array_record").stat().st_mtime_ns == kept
    assert ts.read_manifest(two, "train")["done"] and _files(two) == a
