"""omni.atomic: the one atomic-write helper (temp file beside the target, renamed into place)."""
import json
import os

import pytest

from omni.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, tmp_path


def test_writes_replace_the_file_and_leave_no_temp(tmp_path_factory):
    d = tmp_path_factory.mktemp("atomic")
    atomic_write_text(d / "a.txt", "old")
    atomic_write_text(d / "a.txt", "new")
    atomic_write_bytes(d / "b.bin", b"\x00\x01")
    atomic_write_json(d / "c.json", {"b": 1, "a": [2]}, indent=1, sort_keys=True)
    assert (d / "a.txt").read_text() == "new"
    assert (d / "b.bin").read_bytes() == b"\x00\x01"
    assert (d / "c.json").read_text() == json.dumps({"b": 1, "a": [2]}, indent=1, sort_keys=True)
    assert sorted(p.name for p in d.iterdir()) == ["a.txt", "b.bin", "c.json"]


def test_temp_name_is_per_process_and_a_failed_block_keeps_the_old_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("atomic")
    target = d / "x.json"
    assert tmp_path(target) == d / f"x.json.{os.getpid()}.tmp"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and not tmp.exists()
    with pytest.raises(TypeError):  # not JSON-serialisable: nothing is touched
        atomic_write_json(target, {"x": object()})
    assert target.read_text() == "old"
