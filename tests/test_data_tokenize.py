"""TFDS datasets via a feature mapping (mock data + a tiny real TFDS build) and corpus -> token shards."""
import json
import math

import numpy as np
import pytest
import tensorflow_datasets as tfds

from omni.config import load_config
from omni.data import pipeline, tokenize
from omni.data import token_shards as ts
from omni.data.corpus.spec import MediaSpec
from omni.data.tfds_source import TfdsSource, to_audio, to_image
from tests.tfds_fixtures import ByteText, prepare_tiny_speech

# ---- small deterministic tokenizers with the real interface (encode / vocab_size / tokens_per_item) ----

class PatchImage:
    """[B, 64, 64, 3] -> [B, 16]: mean brightness of 16x16 patches in 64 levels."""
    vocab_size = 64

    def encode(self, x):
        x = np.asarray(x)
        assert x.shape[1:] == (64, 64, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
        p = x.reshape(len(x), 4, 16, 4, 16, 3).mean(axis=(2, 4, 5)).reshape(len(x), 16)
        return np.minimum(p * 64, 63).astype(np.int32)

    def tokens_per_item(self, shape):
        assert tuple(shape) == (64, 64, 3)
        return 16


class FrameVideo:
    """[B, 9, 32, 32, 3] -> [B, 12]: 3 frames x 4 quadrants."""
    vocab_size = 64

    def encode(self, x):
        x = np.asarray(x)[:, ::4]
        q = x.reshape(len(x), 3, 2, 16, 2, 16, 3).mean(axis=(3, 5, 6)).reshape(len(x), 12)
        return np.minimum(q * 64, 63).astype(np.int32)

    def tokens_per_item(self, shape):
        return 12


class RmsAudio:
    """[B, T] -> [B, 2 * ceil(T / 320)] level by level: level 0 = frame RMS, level 1 = 32 + frame peak."""
    vocab_size, num_quantizers, sample_rate = 64, 2, 16000

    def encode(self, x):
        x = np.asarray(x, np.float32)
        F = math.ceil(x.shape[1] / 320)
        fr = np.pad(x, ((0, 0), (0, F * 320 - x.shape[1]))).reshape(len(x), F, 320)
        l0 = np.minimum(np.sqrt((fr ** 2).mean(-1)) * 64, 31).astype(np.int32)
        l1 = 32 + np.minimum(np.abs(fr).max(-1) * 32, 31).astype(np.int32)
        return np.concatenate([l0, l1], axis=1)

    def tokens_per_item(self, shape):
        return 2 * math.ceil(shape[0] / 320)


TOKS = {"text": ByteText(), "image": PatchImage(), "audio": RmsAudio(), "video": FrameVideo()}


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    prepare_tiny_speech(d)
    return d


def test_mock_captioned_images_through_a_feature_mapping():
    with tfds.testing.mock_data(num_examples=4):
        src = TfdsSource("ai2dcaption", "train", {"text": "caption", "image": "image"})
        assert len(src) == 4
        ex = src[1]
    assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8 and ex["has_image"]
    assert isinstance(ex["text"], str) and ex["text"]
    assert ex["audio"].shape == (0,) and not ex["has_audio"] and ex["video"].shape == (0, 0, 0, 3)
    with tfds.testing.mock_data(num_examples=2), pytest.raises(ValueError, match="no feature 'nope'"):
        TfdsSource("ai2dcaption", "train", {"text": "nope"})


def test_mock_tfds_dataset_named_in_a_config_becomes_training_batches(tmp_path):
    cfg = load_config("tiny", [f"data.token_dir={tmp_path}", "data.source=tokens", "data.tfds_name=ai2dcaption",
                               'data.tfds_features=[["text","caption"],["image","image"]]',
                               'data.mixture=[["any_to_any",1]]', 'data.target_weights=[["text",1]]'])
    with tfds.testing.mock_data(num_examples=6):
        report = tokenize.tokenize_corpus(cfg, tokenizers=TOKS, progress=False)
    assert report["train"]["examples"] == 6 and report["validation"]["examples"] == 6
    b = next(pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=1))
    vocab = cfg.vocab.build()
    starts = b["inputs"][(b["positions"] == 0) & (b["segment_ids"] > 0)]
    assert (starts == vocab.task_id("<task:caption>")).all() and len(starts) >= 6


def test_speech_with_transcripts_is_resampled(speech_dir):
    src = TfdsSource("tiny_speech", "test", {"audio": "speech", "text": "transcript"}, data_dir=str(speech_dir),
                     sample_rate=8000)
    by_text = {src[i]["text"]: src[i] for i in range(len(src))}  # TFDS stores examples in hashed-key order
    assert sorted(by_text) == ["say 0", "say 1", "say 2"]
    ex = by_text["say 2"]
    assert ex["has_audio"] and not ex["has_image"]
    assert ex["audio"].dtype == np.float32 and len(ex["audio"]) == 2 * (1000 + 700 * 2)
    assert 0.2 < np.abs(ex["audio"]).max() <= 1.0


def test_media_conversion_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[H, W, 1\|3\|4\]"):
        to_image(np.zeros((4, 4, 2), np.uint8), 64)
    with pytest.raises(ValueError, match="NaN"):
        to_audio(np.array([0.1, np.nan], np.float32), 16000, MediaSpec())
    grey = to_image(np.full((10, 30), 200, np.uint8), 64)
    assert grey.shape == (64, 64, 3) and (grey == 200).all()


def test_tokenize_examples_keeps_exact_audio_frames_and_layout():
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (320, 1000, 8000, 8001, 300)]
    exs = [{"id": str(i), "text": "", "audio": c} for i, c in enumerate(clips)]
    exs.append({"id": "none", "text": "  "})
    exs.append({"id": "odd", "text": "", "image": np.zeros((32, 32, 3), np.uint8)})  # not the tokenizer's shape
    out, skipped = tokenize.tokenize_examples(exs, TOKS, batch_size=2, audio_bucket=4000)
    assert skipped == {"empty": 2, "bad_image_shape": 1} and len(out) == 5
    for ex, c in zip(out, clips):
        F = math.ceil(len(c) / 320)
        alone = TOKS["audio"].encode(c[None]).reshape(2, F)
        assert ex["audio"].shape == (2, F)
        np.testing.assert_array_equal(ex["audio"], alone)  # frame-local codec: padding changes nothing


def test_tokenize_corpus_from_tfds_then_train_batches(speech_dir, tmp_path):
    cfg = load_config("tiny", [f"data.token_dir={tmp_path / 'tok'}", "data.tfds_name=tiny_speech",
                               f"data.tfds_data_dir={speech_dir}", "data.tfds_sample_rate=8000",
                               'data.tfds_features=[["audio","speech"],["text","transcript"]]',
                               'data.tfds_splits=[["train","train"],["validation","test"]]', "data.shard_size=2",
                               "data.source=tokens", 'data.mixture=[["any_to_any",1]]'])
    report = tokenize.tokenize_corpus(cfg, tokenizers=TOKS, progress=False)
    assert report["train"]["examples"] == 5 and report["train"]["shards"] == 3
    assert report["validation"]["examples"] == 3
    meta = ts.read_meta(cfg.data.token_dir)
    assert meta["audio"] == {"num_quantizers": 2, "codebook_size": 32, "sample_rate": 16000}
    it = pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=1)
    b = next(it)
    vocab = cfg.vocab.build()
    tasks_seen = set(b["inputs"][(b["positions"] == 0) & (b["segment_ids"] > 0)].tolist())
    assert tasks_seen <= {vocab.task_id("<task:transcribe>"), vocab.task_id("<task:speak>")}
    assert len(tasks_seen) == 2
    assert it.stats()["skipped"] == 0


class _Flaky:
    """A source that fails at one index (simulates a crash mid-run) and counts reads."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at, self.reads = n, fail_at, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise RuntimeError("simulated crash")
        self.reads.append(i)
        return {"id": str(i), "source": "flaky", "text": f"example {i}"}


def test_tokenize_is_resumable_shard_by_shard(tmp_path):
    ts.write_meta(tmp_path, {"codes": {"text": 256}, "fixed_lengths": {}, "audio": {}})
    with pytest.raises(RuntimeError, match="simulated"):
        tokenize.tokenize_split(_Flaky(7, fail_at=5), {"text": ByteText()}, tmp_path, "train", shard_size=2,
                                batch_size=4, progress=False)
    m = ts.read_manifest(tmp_path, "train")
    assert sorted(m["shards"]) == [0, 1] and not m["done"]
    with pytest.raises(ValueError, match="incomplete"):
        ts.TokenShardSource(tmp_path, "train")
    again = _Flaky(7)
    rep = tokenize.tokenize_split(again, {"text": ByteText()}, tmp_path, "train", shard_size=2, batch_size=4,
                                  progress=False)
    assert again.reads == [4, 5, 6] and rep["resumed_shards"] == 2  # finished shards are not redone
    src = ts.TokenShardSource(tmp_path, "train")
    texts = [bytes(ts.decode_example(src[i])["text"].astype(np.uint8)).decode() for i in range(len(src))]
    assert texts == [f"example {i}" for i in range(7)]


def test_tokenize_refuses_a_token_dir_of_other_tokenizers(speech_dir, tmp_path):
    cfg = load_config("tiny", [f"data.token_dir={tmp_path}", "data.tfds_name=tiny_speech",
                               f"data.tfds_data_dir={speech_dir}", 'data.tfds_features=[["text","transcript"]]',
                               'data.tfds_splits=[["train","train"]]'])
    tokenize.tokenize_corpus(cfg, splits=("train",), tokenizers={"text": ByteText()}, progress=False)
    meta = json.loads((tmp_path / ts.META_FILE).read_text())
    assert meta["codes"] == {"text": 256}

    class OtherText(ByteText):
        vocab_size = 200

    with pytest.raises(ValueError, match="other tokenizers"):
        tokenize.tokenize_corpus(cfg, splits=("train",), tokenizers={"text": OtherText()}, progress=False)
    with pytest.raises(ValueError, match="vocab.image=64 is smaller"):
        tokenize.tokenize_corpus(cfg, splits=("train",), tokenizers={"image": type("Big", (PatchImage,),
                                                                                   {"vocab_size": 4096})()},
                                 progress=False)


def test_real_tokenizers_saved_on_disk(tmp_path, monkeypatch):
    """The trained-tokenizer path: load_all from data.tokenizer_dir, digests, level-by-level audio."""
    from omni_tokenizers.audio import AudioTokenizer
    from omni_tokenizers.audio.codec import AudioCodecConfig
    from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig

    words = "the a cat dog runs over red blue small big bird fish sings".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 6)) for _ in range(200)]
    TextTokenizer.train(texts, TextTokenizerConfig(vocab_size=280)).save(tmp_path / "tok" / "text")
    audio = AudioTokenizer(AudioCodecConfig(channels=16, enc_blocks=1, dec_blocks=1, latent_dim=8,
                                            num_quantizers=3, codebook_size=16))
    audio.save(tmp_path / "tok" / "audio")
    clips = [(0.3 * np.sin(np.arange(n) * 0.07)).astype(np.float32) for n in (3000, 4100, 7999)]
    corpus = [{"id": str(i), "source": "t", "text": texts[i], "audio": clips[i % 3]} for i in range(6)]
    corpus.append({"id": "long", "source": "t", "text": "x" * 70000})  # refused by SentencePiece max_bytes
    cfg = load_config("tiny", [f"data.tokenizer_dir={tmp_path / 'tok'}", f"data.token_dir={tmp_path / 'out'}",
                               "vocab.text=300"])
    monkeypatch.setattr(tokenize, "open_corpus_source", lambda c, split: (corpus, "test-corpus"))
    rep = tokenize.tokenize_corpus(cfg, splits=("train",), progress=False)
    assert rep["train"]["examples"] == 6 and rep["train"]["skipped"] == {"bad_text": 1, "empty": 1}
    meta = ts.read_meta(cfg.data.token_dir)
    assert meta["audio"] == {"num_quantizers": 3, "codebook_size": 16, "sample_rate": 16000}
    assert set(meta["tokenizers"]) == {"text", "audio"} and all(len(d) == 16 for d in meta["tokenizers"].values())
    src_tok = ts.TokenShardSource(cfg.data.token_dir, "train")
    for i in range(6):
        ex = ts.decode_example(src_tok[i])
        F = math.ceil(len(clips[i % 3]) / 320)
        assert ex["audio"].shape == (3, F)
        assert ((ex["audio"] // 16) == np.arange(3)[:, None]).all()  # row l holds level l's ids
        np.testing.assert_array_equal(ex["text"], TextTokenizer.load(tmp_path / "tok" / "text").encode([texts[i]])[0])
