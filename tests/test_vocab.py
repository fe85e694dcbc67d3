"""Unified vocabulary: disjoint, complete ranges; specials in the text range; end tokens per modality."""
import numpy as np
import pytest

from omni import modality as mod
from omni.config import load_config
from omni.vocab import UnifiedVocab


def test_ranges_disjoint_complete_and_round_trip():
    v = load_config("demo").vocab.build()
    ranges = sorted(v.range(m) for m in v.modalities)
    assert ranges[0][0] == 0 and ranges[-1][1] == v.size
    for (a, b), (c, _) in zip(ranges, ranges[1:]):
        assert b == c and a < b
    ids = np.arange(v.size)
    owners = v.modality_of(ids)
    for m in v.modalities:
        a, b = v.range(m)
        assert np.all(owners[a:b] == mod.modality_id(m))
        local = np.arange(v.num_codes(m))
        np.testing.assert_array_equal(v.to_local(m, v.to_global(m, local)), local)
    specials = [v.bos_id, v.begin_id("image"), v.task_id("<task:caption>")]
    assert v.pad_id == 0 and v.modality_of(specials).tolist() == [0, 0, 0]
    for m in ("image", "audio", "video"):
        assert v.modality_of([v.end_id(m)])[0] == mod.modality_id(m)
        assert v.end_id(m) == v.range(m)[1] - 1
    assert UnifiedVocab.from_json(v.to_json()) == v


def test_bad_ids_and_names_raise():
    v = load_config("tiny").vocab.build()
    with pytest.raises(ValueError, match=r"image ids must lie in \[0, 64\)"):
        v.to_global("image", [64])
    with pytest.raises(ValueError, match="unknown modalities"):
        UnifiedVocab.create({"text": 10, "smell": 3})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.modality_of([v.size])


def test_registry_adds_a_modality_in_one_entry():
    names = mod.names()
    try:
        new_id = mod.register("depth")
        assert mod.names()[new_id] == "depth" and mod.register("depth") == new_id
        v = UnifiedVocab.create({"text": 10, "image": 5, "depth": 7})
        assert v.range("depth")[1] == v.size and v.num_codes("depth") == 7
    finally:
        mod.MODALITIES.unregister("depth")
        assert mod.names() == names
