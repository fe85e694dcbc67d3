"""The grain pipeline: batch contract, determinism, checkpoint state, process sharding, bad data, workers, prefetch."""
import json

import jax
import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordWriter
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from omni.config import ConfigError, load_config
from omni.data import pipeline
from omni.data import token_shards as ts

KEYS = {"inputs": np.int32, "targets": np.int32, "input_modality": np.int32, "target_modality": np.int32,
        "segment_ids": np.int32, "positions": np.int32, "span_ids": np.int32, "loss_mask": np.float32}


def check_batch(b, vocab, B, L):
    """Every invariant of the training batch contract that the model and trainer rely on."""
    assert set(b) == set(KEYS)
    for k, dt in KEYS.items():
        assert b[k].shape == (B, L) and b[k].dtype == dt, k
    seg, pos = b["segment_ids"], b["positions"]
    assert (b["inputs"] >= 0).all() and (b["inputs"] < vocab.size).all()
    live = seg > 0
    np.testing.assert_array_equal(b["input_modality"][live], vocab.modality_of(b["inputs"][live]))
    np.testing.assert_array_equal(b["target_modality"][live], vocab.modality_of(b["targets"][live]))
    heads = vocab.head_ranges()
    lo, hi = heads[b["target_modality"], 0], heads[b["target_modality"], 1]
    trained = b["loss_mask"] > 0
    assert ((b["targets"] >= lo) & (b["targets"] < hi))[trained].all()
    assert not trained[~live].any()
    for r in range(B):
        for s in np.unique(seg[r][seg[r] > 0]):
            idx = np.nonzero(seg[r] == s)[0]
            assert (np.diff(idx) == 1).all()  # contiguous
            np.testing.assert_array_equal(pos[r, idx], np.arange(len(idx)))  # positions reset per segment
            np.testing.assert_array_equal(b["targets"][r, idx[:-1]], b["inputs"][r, idx[1:]])  # shift in segment
            assert b["targets"][r, idx[-1]] == vocab.pad_id and b["loss_mask"][r, idx[-1]] == 0
        spans = b["span_ids"][r]
        for s in np.unique(spans[spans > 0]):  # one span = one contiguous run in one segment
            idx = np.nonzero(spans == s)[0]
            assert (np.diff(idx) == 1).all() and len(np.unique(seg[r, idx])) == 1
            assert (b["loss_mask"][r, idx[:-1]] == 0).all()  # conditioning is not trained by default


@pytest.fixture(scope="module")
def tiny():
    return load_config("tiny")


def test_synthetic_batches_meet_the_contract(tiny):
    it = pipeline.make_iterator(tiny, "train", seed=0, process_index=0, process_count=1)
    vocab = tiny.vocab.build()
    spans = 0
    for _ in range(4):
        b = next(it)
        check_batch(b, vocab, tiny.train.batch_size, tiny.train.seq_len)
        spans += int((b["span_ids"] > 0).sum())
    assert spans > 0
    st = it.stats()
    assert st["batches"] == 4 and st["examples"] > 4 * tiny.train.batch_size
    assert 0 <= st["padding_fraction"] < 0.2  # first-fit on short synthetic examples packs tightly
    assert st["skipped"] == 0 and all(st[f"family/{f}"] > 0 for f in ("any_to_any", "single", "interleaved"))


def test_deterministic_from_seed_and_state_round_trip(tiny):
    a = pipeline.make_iterator(tiny, "train", seed=3, process_index=0, process_count=1)
    first = [next(a) for _ in range(3)]
    state = json.loads(json.dumps(a.get_state()))  # JSON-able, as saved with the checkpoint
    after = [next(a) for _ in range(2)]
    b = pipeline.make_iterator(tiny, "train", seed=3, process_index=0, process_count=1)
    for x, y in zip(first, [next(b) for _ in range(3)]):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    c = pipeline.make_iterator(tiny, "train", seed=3, process_index=0, process_count=1)
    c.set_state(state)
    assert c.stats()["batches"] == 3
    for x, y in zip(after, [next(c) for _ in range(2)]):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert c.stats() == a.stats()
    d = pipeline.make_iterator(tiny, "train", seed=4, process_index=0, process_count=1)
    assert not np.array_equal(next(d)["inputs"], first[0]["inputs"])
    with pytest.raises(ValueError, match="different pipeline.*seed"):
        d.set_state(state)
    with pytest.raises(ValueError, match="not a data iterator state"):
        d.set_state({"pipeline": {}})
    with pytest.raises(ValueError, match="does not fit this pipeline"):
        c.set_state({**state, "pipeline": {"nothing": 1}})


def _write_tokens(root, examples, split="train", shard_size=16, codes=None):
    meta = {"codes": codes or {"text": 256, "image": 64, "audio": 64, "video": 64},
            "fixed_lengths": {"image": 16, "video": 12}, "audio": {"num_quantizers": 2, "codebook_size": 32}}
    ts.write_meta(root, meta)
    chunks = [examples[i:i + shard_size] for i in range(0, len(examples), shard_size)]
    for i, c in enumerate(chunks):
        ts.write_shard(root, split, i, c, done=i == len(chunks) - 1)


def _decode_ids(b, vocab):
    """Recovers each packed example's id from its text (two text tokens encode the id)."""
    off = vocab.code_offset("text")
    ids = []
    for r in range(b["inputs"].shape[0]):
        row, seg = b["inputs"][r], b["segment_ids"][r]
        for s in np.unique(seg[seg > 0]):
            t = row[seg == s]
            body = t[(t >= off) & (t < off + 256)] - off
            ids.append(int(body[0]) * 256 + int(body[1]))
    return ids


def test_processes_read_distinct_slices(tmp_path, tiny):
    vocab = tiny.vocab.build()
    _write_tokens(tmp_path, [{"id": str(i), "text": np.array([i // 256, i % 256, 7], np.int32)} for i in range(64)])
    cfg = load_config("tiny", ["data.source=tokens", f"data.token_dir={tmp_path}", "data.mixture=[[\"single\",1]]",
                               "data.shuffle=false"])
    seen = {}
    for p in range(2):
        it = pipeline.make_iterator(cfg, "train", seed=0, process_index=p, process_count=2)
        b = next(it)
        assert b["inputs"].shape == (tiny.train.batch_size // 2, tiny.train.seq_len)
        seen[p] = set(_decode_ids(b, vocab))
        assert it.description["records_this_process"] == 32
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert max(seen[0]) < 32 <= min(seen[1])  # contiguous slices: each process reads its own shards
    with pytest.raises(ValueError, match="divisible"):
        pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=3)


def test_bad_token_data_is_counted_never_passed_on(tmp_path, tiny):
    good = {"id": "g", "text": np.arange(5, dtype=np.int32), "image": np.arange(16, dtype=np.int32)}
    bad = [
        {"id": "range", "text": np.array([3, 300], np.int32)},            # text ids >= 256
        {"id": "empty", "text": np.zeros(0, np.int32)},
        {"id": "shape", "image": np.arange(15, dtype=np.int32)},           # image must have 16 codes
        {"id": "long", "image": np.arange(16, dtype=np.int32), "video": np.arange(12, dtype=np.int32)},
    ]
    _write_tokens(tmp_path, [good] * 6 + bad)
    w = ArrayRecordWriter(str(tmp_path / "train-00001.array_record"), "group_size:1")  # a corrupt shard
    w.write(b"garbage, not a token record")
    w.close()
    ts.mark_shard(tmp_path, "train", 1, "train-00001.array_record", 1, {}, done=True)
    cfg = load_config("tiny", ["data.source=tokens", f"data.token_dir={tmp_path}", "data.max_example_tokens=24",
                               "data.mixture=[[\"any_to_any\",1],[\"single\",1]]"])
    it = pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=1)
    vocab = cfg.vocab.build()
    for _ in range(3):
        check_batch(next(it), vocab, cfg.train.batch_size, cfg.train.seq_len)
    st = it.stats()
    for reason in ("out_of_range", "empty", "bad_shape", "corrupt"):
        assert st[f"skipped/{reason}"] > 0, reason
    # the image+video example only fits 24 tokens as a single image or video span, never as a pair
    assert st["examples"] > 0 and st["skipped/too_long"] > 0


def test_vocab_too_small_for_shards_is_a_clear_error(tmp_path):
    _write_tokens(tmp_path, [{"id": "a", "text": np.arange(3, dtype=np.int32)}],
                  codes={"text": 1000, "image": 64, "audio": 64, "video": 64})
    cfg = load_config("tiny", ["data.source=tokens", f"data.token_dir={tmp_path}"])
    with pytest.raises(ValueError, match="vocab.text >= 1000"):
        pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=1)


def test_worker_processes_are_deterministic_and_restorable(tiny):
    cfg = load_config("tiny", ["data.num_workers=2"])
    a = pipeline.make_iterator(cfg, "train", seed=1, process_index=0, process_count=1)
    try:
        vocab = cfg.vocab.build()
        for _ in range(3):
            check_batch(next(a), vocab, cfg.train.batch_size, cfg.train.seq_len)
        state = json.loads(json.dumps(a.get_state()))
        after = [next(a) for _ in range(2)]
    finally:
        a.close()
    b = pipeline.make_iterator(cfg, "train", seed=1, process_index=0, process_count=1)
    try:
        b.set_state(state)
        for x, y in zip(after, [next(b) for _ in range(2)]):
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])
    finally:
        b.close()


def test_device_prefetch_shards_batches_and_tracks_state(tiny):
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(8), ("data",))
    sharding = NamedSharding(mesh, P("data", None))
    it = pipeline.make_iterator(tiny, "train", seed=5, process_index=0, process_count=1)
    pf = pipeline.device_prefetch(it, sharding, size=2)
    try:
        got = [next(pf) for _ in range(2)]
        assert isinstance(got[0]["inputs"], jax.Array) and got[0]["inputs"].sharding == sharding
        assert got[0]["inputs"].shape == (tiny.train.batch_size, tiny.train.seq_len)
        state = pf.get_state()
        assert state["stats"]["batches"] == 2  # the batches handed out, not those prefetched
        assert pf.stats()["batches"] == 2
        ref = pipeline.make_iterator(tiny, "train", seed=5, process_index=0, process_count=1)
        ref.set_state(state)
        expect = next(ref)["inputs"]
        np.testing.assert_array_equal(np.asarray(next(pf)["inputs"]), expect)
        pf.set_state(state)  # rewind: the prefetched batches are dropped and made again
        np.testing.assert_array_equal(np.asarray(next(pf)["inputs"]), expect)
    finally:
        pf.close()


def test_source_weights_repeat_and_subsample_sources_per_epoch(tmp_path, tiny):
    exs = [{"id": str(i), "source": "a" if i < 32 else "b", "text": np.array([i // 256, i % 256, 7], np.int32)}
           for i in range(64)]
    _write_tokens(tmp_path, exs)
    _write_tokens(tmp_path, exs[:8], split="validation")
    base = ["data.source=tokens", f"data.token_dir={tmp_path}", "data.mixture=[[\"single\",1]]"]
    cfg = load_config("tiny", base + ['data.source_weights=[["a",2],["b",0.5]]']).validate()
    ds, _, desc = pipeline.open_source(cfg, "train")
    ids = [int(ds[i]["id"]) for i in range(len(ds))]
    assert desc["records"] == len(ids) == 2 * 32 + 16
    a = [i for i in ids if i < 32]
    b = [i for i in ids if i >= 32]
    assert sorted(a) == sorted(list(range(32)) * 2)       # every record of a, twice
    assert len(b) == len(set(b)) == 16                     # half of b's records, each once
    assert ids[:64] != sorted(ids[:64])                    # shuffled once, so process slices mix sources
    assert again(cfg) == ids                               # deterministic
    assert len(pipeline.open_source(cfg, "validation")[0]) == 8  # held-out data is never reweighted
    it = pipeline.make_iterator(cfg, "train", seed=0, process_index=0, process_count=2)
    assert it.description["records_this_process"] == 40
    check_batch(next(it), cfg.vocab.build(), cfg.train.batch_size // 2, cfg.train.seq_len)
    unknown = load_config("tiny", base + ['data.source_weights=[["c",2]]']).validate()
    with pytest.raises(ValueError, match=r"names \['c'\], which no record has; the sources are \['a', 'b'\]"):
        pipeline.open_source(unknown, "train")
    none = load_config("tiny", base + ['data.source_weights=[["a",0],["b",0]]']).validate()
    with pytest.raises(ValueError, match="leave no records"):
        pipeline.open_source(none, "train")


def again(cfg):
    ds = pipeline.open_source(cfg, "train")[0]
    return [int(ds[i]["id"]) for i in range(len(ds))]


@pytest.mark.parametrize("weights, match", [
    ('[["a",-1]]', "finite and >= 0"), ('[["a",1],["a",2]]', "each source once"),
    ('[["a",NaN]]', "expected a finite number")])
def test_source_weights_are_validated(weights, match):
    with pytest.raises(ConfigError, match=match):
        load_config("tiny", ["data.source=tokens", "data.token_dir=x", f"data.source_weights={weights}"]).validate()
    with pytest.raises(ConfigError, match="set one of them"):
        load_config("tiny", ["data.source=tokens", "data.token_dir=x", 'data.source_weights=[["a",1]]',
                             'data.tfds_mixture=[{"name": "x", "features": [["text", "t"]]}]']).validate()
    # a preset's weights do not stop a run on synthetic data (bench.py train overrides the source)
    load_config("tiny", ['data.source_weights=[["a",1]]']).validate()
