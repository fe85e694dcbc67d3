"""Packing: first-fit rows, segments and positions, row-unique spans, attention isolation, skip counts, state."""
import grain
import jax.numpy as jnp
import numpy as np
import pytest

from omni.attention import MaskInfo, visible
from omni.data import packing
from omni.data.tasks import Formatted, Skipped


def _example(n, span=0, base=10):
    span_ids = np.zeros(n, np.int32)
    if span:
        span_ids[1:1 + span] = 1
        span_ids[1 + span:min(1 + 2 * span, n)] = 2
    return {"inputs": np.arange(base, base + n, dtype=np.int32),
            "targets": np.arange(base + 1, base + n + 1, dtype=np.int32),
            "input_modality": np.zeros(n, np.int32), "target_modality": np.zeros(n, np.int32),
            "span_ids": span_ids, "loss_mask": np.ones(n, np.float32)}


def test_first_fit_rows_segments_positions_and_spans():
    p = packing.RowPacker(batch_size=2, seq_len=10)
    assert p.add(_example(6, span=2))
    assert p.add(_example(5, span=2))   # does not fit row 0 (6 + 5 > 10): row 1
    assert p.add(_example(4, span=1))   # fits row 0 exactly
    assert not p.add(_example(6))       # fits nowhere
    b = p.batch
    np.testing.assert_array_equal(b["segment_ids"][0], [1] * 6 + [2] * 4)
    np.testing.assert_array_equal(b["positions"][0], list(range(6)) + list(range(4)))
    np.testing.assert_array_equal(b["segment_ids"][1], [1] * 5 + [0] * 5)
    np.testing.assert_array_equal(b["positions"][1], list(range(5)) + [0] * 5)
    # spans (1, 2) of the second example in row 0 are renumbered after the first's (1, 2) -> (3, 4)
    np.testing.assert_array_equal(b["span_ids"][0], [0, 1, 1, 2, 2, 0, 0, 3, 4, 0])
    # padding is inert
    pad = b["segment_ids"] == 0
    for k in ("inputs", "targets", "span_ids", "positions"):
        assert (b[k][pad] == 0).all()
    assert (b["loss_mask"][pad] == 0).all()
    with pytest.raises(ValueError, match="cannot be packed"):
        p.add(_example(11))


def test_packed_rows_never_attend_across_examples():
    p = packing.RowPacker(batch_size=1, seq_len=16)
    for n in (5, 6, 4):
        assert p.add(_example(n, span=2))
    b = p.batch
    info = MaskInfo(jnp.asarray(b["segment_ids"]), jnp.asarray(b["positions"]), jnp.asarray(b["span_ids"]))
    vis = np.asarray(visible(info, info))[0]
    seg = b["segment_ids"][0]
    i, j = np.nonzero(vis)
    assert (seg[i] == seg[j]).all() and (seg[i] > 0).all()
    # inside a span both directions are visible; elsewhere attention is causal
    sp = b["span_ids"][0]
    for a, c in zip(i, j):
        assert c <= a or (sp[a] == sp[c] != 0)
    s1 = np.nonzero(sp == 1)[0]
    assert vis[s1[0], s1[-1]]


def _stream(items):
    return grain.MapDataset.source(items).to_iter_dataset()


def test_pack_dataset_counts_skips_and_restores_state():
    items = []
    for i in range(40):
        if i % 7 == 3:
            items.append(Skipped("out_of_range" if i % 2 else "empty"))
        else:
            items.append(Formatted(_example(3 + i % 5, base=i), "single", "<task:lm>", truncated=(i % 5 == 0)))
    ds = packing.PackIterDataset(_stream(items), batch_size=2, seq_len=12)
    it = iter(ds)
    batches = list(it)
    totals = sum(b["_stats"] for b in batches)
    stats = packing.stats_dict(totals)
    n_skip = sum(isinstance(x, Skipped) for x in items)
    assert stats["examples"] == 40 - n_skip
    assert stats["skipped/out_of_range"] + stats["skipped/empty"] == n_skip > 0
    assert stats["truncated"] == sum(1 for x in items if isinstance(x, Formatted) and x.truncated)
    assert sum(int(b["segment_ids"].max(axis=1).sum()) for b in batches) == stats["examples"]
    # restore from the state after batch 2 and replay: identical batches and counts
    it = iter(ds)
    next(it), next(it)
    state = it.get_state()
    it2 = iter(ds)
    it2.set_state(state)
    rest = list(it2)
    assert len(rest) == len(batches) - 2
    for a, b in zip(rest, batches[2:]):
        for k in b:
            np.testing.assert_array_equal(a[k], b[k])


def test_padding_fraction():
    p = packing.RowPacker(batch_size=2, seq_len=10)
    p.add(_example(6))
    p.add(_example(10))
    assert packing.padding_fraction(p.batch) == pytest.approx(4 / 20)
