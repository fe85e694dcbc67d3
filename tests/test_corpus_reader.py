"""omni_corpus round trip: examples -> stage file -> TFDS array_record -> open_corpus (TF-free)."""
import json
import sys

import numpy as np
import pytest

from omni.data.corpus import FIELDS, CorpusConfig, corpus_metadata, make_example, open_corpus, split_of
from omni.data.corpus.build import _write_tfds
from omni.data.corpus.records import decode_example, encode_example
from omni.data.corpus.stage import Stage


def _examples(n=40):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        kw = {}
        if i % 3 == 0:
            kw["image"] = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        if i % 3 == 1:
            kw["audio"] = (np.round(rng.uniform(-0.9, 0.9, 100 + i) * 32767) / 32768).astype(np.float32)
        if i % 5 == 0:
            kw["video"] = rng.integers(0, 255, (3, 4, 4, 3), dtype=np.uint8)
        out.append(make_example(id=f"t/{i}", source="toy", item=f"toy/item{i // 2}", text=f"Text {i} é",
                                label={"n": i}, **kw))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    exs = _examples()
    stage = Stage(tmp / "stage", "toy", "k1")
    stage.write(iter(exs), lambda: {"license": "test"})
    cfg = CorpusConfig(out=tmp / "out", cache=tmp / "cache")
    _write_tfds(cfg, [str(stage.records)], {"corpus_key": "abc", "sources": {"toy": stage.summary()},
                                             "splits": {"train": 1, "validation": 1}})
    return tmp / "out", {e["id"]: e for e in exs}


def test_round_trip_all_fields_and_splits(built):
    out, by_id = built
    seen = {}
    for split in ("train", "validation"):
        src = open_corpus(out, split)
        for i in range(len(src)):
            ex = src[i]
            assert set(ex) == set(FIELDS)
            assert split_of(ex["item"]) == split
            seen[ex["id"]] = ex
    assert set(seen) == set(by_id)
    for k, ex in seen.items():
        ref = by_id[k]
        for f in ("text", "source", "item", "label"):
            assert isinstance(ex[f], str) and ex[f] == ref[f]
        for f in ("image", "audio", "video"):
            assert ex[f].dtype == ref[f].dtype and ex[f].shape == ref[f].shape
            np.testing.assert_array_equal(ex[f], ref[f])  # exact: audio lives on the 16-bit grid
            assert ex[f"has_{f}"] == ref[f"has_{f}"]
    assert json.loads(seen["t/4"]["label"]) == {"n": 4}
    assert "tensorflow" not in sys.modules


def test_metadata_and_errors(built, tmp_path):
    out, _ = built
    assert corpus_metadata(out)["sources"]["toy"]["license"] == "test"
    with pytest.raises(ValueError, match="unknown split"):
        open_corpus(out, "test")
    with pytest.raises(FileNotFoundError, match="no built omni_corpus"):
        open_corpus(tmp_path, "train")
    src = open_corpus(out, "train")
    with pytest.raises(IndexError):
        src[len(src)]


def test_split_is_stable_and_about_ten_percent():
    items = [f"x/{i}" for i in range(5000)]
    val = sum(split_of(i) == "validation" for i in items)
    assert 400 < val < 600
    assert [split_of(i) for i in items[:50]] == [split_of(i) for i in items[:50]]
    assert split_of("tuxpaint/animals/goat") in ("train", "validation")


def test_schema_rejects_bad_examples():
    ex = make_example(id="a", source="s", item="s/a", text="hi")
    assert ex["image"].shape == (0, 0, 3) and ex["audio"].shape == (0,) and ex["video"].shape == (0, 0, 0, 3)
    assert decode_example(encode_example(ex))["text"] == "hi"
    with pytest.raises(ValueError, match="3-d uint8"):
        make_example(id="a", source="s", item="s/a", image=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="\\[-1, 1\\]"):
        make_example(id="a", source="s", item="s/a", audio=np.full(4, 2.0, np.float32))
    with pytest.raises(ValueError, match="not an encoded corpus example"):
        decode_example(b"garbage")


def test_feeds_grain_and_pickles(built):
    import pickle

    import grain

    out, by_id = built
    src = open_corpus(out, "train")
    ds = grain.MapDataset.source(src).shuffle(seed=0).map(lambda ex: (ex["id"], ex["audio"].dtype))
    got = [ds[i] for i in range(len(ds))]
    assert sorted(i for i, _ in got) == sorted(k for k in by_id if split_of(by_id[k]["item"]) == "train")
    assert all(d == np.float32 for _, d in got)
    again = pickle.loads(pickle.dumps(src))  # grain worker processes receive the source pickled
    assert len(again) == len(src) and again[0]["id"] == src[0]["id"]
