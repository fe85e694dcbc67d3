"""Token shard format: record round trip, malformed records, shards + manifest + reader."""
import json
import struct

import numpy as np
import pytest

from omni.data import token_shards as ts

META = {"codes": {"text": 256, "image": 64, "audio": 64, "video": 64}, "fixed_lengths": {"image": 16, "video": 12},
        "audio": {"num_quantizers": 2, "codebook_size": 32}}


def _ex(i):
    return {"id": f"ex{i}", "source": "t", "text": np.arange(i + 1, dtype=np.int32),
            "audio": np.arange(2 * (i + 2), dtype=np.int32).reshape(2, i + 2)}


def test_record_round_trip():
    ex = {"id": "a", "source": "s", "text": np.array([1, 2, 3]), "image": np.arange(16, dtype=np.int64),
          "audio": np.array([[1, 2], [33, 34]], np.int32), "video": np.zeros(0, np.int32)}
    rec = ts.encode_example(ex)
    assert b"pickle" not in rec and rec[:4] == ts.MAGIC
    out = ts.decode_example(rec)
    assert out["id"] == "a" and out["source"] == "s"
    assert "video" not in out  # empty arrays are left out
    for k in ("text", "image", "audio"):
        assert out[k].dtype == np.int32
        np.testing.assert_array_equal(out[k], ex[k])
    with pytest.raises(ValueError, match="rank 2"):
        ts.encode_example({"audio": np.arange(4)})
    with pytest.raises(ValueError, match="integer"):
        ts.encode_example({"text": np.ones(3, np.float32)})


@pytest.mark.parametrize("mutate,match", [
    (lambda r: b"XXXX" + r[4:], "magic"),
    (lambda r: r[:6], "truncated"),
    (lambda r: r[:8] + b"{" * (len(r) - 8), "not JSON"),
    (lambda r: r[:-4], "past the end"),
])
def test_malformed_records_raise(mutate, match):
    rec = ts.encode_example({"id": "a", "text": np.arange(5)})
    with pytest.raises(ValueError, match=match):
        ts.decode_example(mutate(rec))


def test_unknown_array_entry_is_refused():
    header = json.dumps({"id": "a", "arrays": [["text", "float64", [2], 0]]}).encode()
    rec = ts.MAGIC + struct.pack("<I", len(header)) + header + b"\0" * ((-(8 + len(header))) % 8) + b"\0" * 16
    with pytest.raises(ValueError, match="int32"):
        ts.decode_example(rec)


def test_shards_manifest_and_reader(tmp_path):
    with pytest.raises(ValueError, match="tokenize_corpus"):
        ts.TokenShardSource(tmp_path, "train")
    ts.write_meta(tmp_path, META)
    ts.write_shard(tmp_path, "train", 0, [_ex(i) for i in range(3)])
    with pytest.raises(ValueError, match="incomplete"):
        ts.TokenShardSource(tmp_path, "train")
    ts.write_shard(tmp_path, "train", 1, [_ex(i) for i in range(3, 5)], skipped={"empty": 2}, done=True)
    m = ts.read_manifest(tmp_path, "train")
    assert m["done"] and [s["examples"] for _, s in sorted(m["shards"].items())] == [3, 2]
    assert m["shards"][1]["skipped"] == {"empty": 2}
    src = ts.TokenShardSource(tmp_path, "train")
    assert len(src) == 5 and src.meta["codes"]["image"] == 64
    for i in range(5):
        ex = ts.decode_example(src[i])
        assert ex["id"] == f"ex{i}"
        np.testing.assert_array_equal(ex["audio"], _ex(i)["audio"])
    with pytest.raises(ValueError, match="no 'validation' shards"):
        ts.TokenShardSource(tmp_path, "validation")
    with pytest.raises(ValueError, match="needs 'audio'"):
        ts.write_meta(tmp_path, {"codes": {}, "fixed_lengths": {}})
