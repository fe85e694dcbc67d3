"""Token shards: pre-tokenized examples in array_record files, one small JSON header + raw int32 bytes each.

Layout of a token directory:

    meta.json                       tokenizer facts (codes per modality, fixed lengths, audio levels)
    <split>-00000.array_record      one shard = `shard_size` consecutive corpus examples
    <split>-00000.done.json         written atomically once shard 0 is complete (examples, skip counts, shard
                                    count): processes tokenizing disjoint shards never write the same file
    <split>.manifest.json           every finished shard and `done`, written once all shards are complete

A record is `b"OMT1" | u32 header length | JSON header | zero pad to 8 | arrays`. The header names
each array's modality, dtype (int32), shape and byte offset. Local (per-tokenizer) ids are stored:
text [n], image [n_img], video [n_vid], audio [levels, frames] (row l holds `l * codebook + code`).
Nothing is ever unpickled; a record that does not parse raises `ValueError`.
"""
from __future__ import annotations

import json
import os
import pathlib
import struct
from typing import Any

import numpy as np
from array_record.python.array_record_module import ArrayRecordWriter

from omni.atomic import atomic_path, atomic_write_text

MAGIC = b"OMT1"
FORMAT = "omni-token-shards"
VERSION = 1
META_FILE = "meta.json"
MODALITY_RANKS = {"text": 1, "image": 1, "video": 1, "audio": 2}


# ---- one record --------------------------------------------------------------------------------

def encode_example(example: dict[str, Any]) -> bytes:
    """{"id", "source", <modality>: int array} -> record bytes (modalities with no tokens are left out)."""
    arrays, header, body, offset = [], {"id": str(example.get("id", "")),
                                         "source": str(example.get("source", ""))}, [], 0
    for m, rank in MODALITY_RANKS.items():
        if m not in example or example[m] is None:
            continue
        a = np.ascontiguousarray(np.asarray(example[m]))
        if a.ndim != rank or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{m} tokens must be an integer array of rank {rank}, got {a.dtype} {a.shape}")
        if a.size == 0:
            continue
        a = a.astype("<i4")
        arrays.append([m, "int32", list(a.shape), offset])
        body.append(a.tobytes())
        offset += a.nbytes
    header["arrays"] = arrays
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(len(MAGIC) + 4 + len(h))) % 8
    return MAGIC + struct.pack("<I", len(h)) + h + b"\0" * pad + b"".join(body)


def _read_header(record: bytes) -> tuple[dict[str, Any], int]:
    """(the record's JSON header, its length in bytes); raises ValueError if the record is not one of ours."""
    if not isinstance(record, (bytes, bytearray, memoryview)) or bytes(record[:4]) != MAGIC:
        raise ValueError("not a token-shard record: expected the OMT1 magic bytes")
    if len(record) < 8:
        raise ValueError("truncated token-shard record: no header length")
    (hlen,) = struct.unpack("<I", bytes(record[4:8]))
    if 8 + hlen > len(record):
        raise ValueError(f"truncated token-shard record: header of {hlen} bytes does not fit")
    try:
        header = json.loads(bytes(record[8:8 + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"token-shard record header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"token-shard record header must be a JSON object, got {type(header).__name__}")
    return header, hlen


def record_source(record: bytes) -> str:
    """The `source` a record's header names ("" if none), without reading its arrays."""
    return str(_read_header(record)[0].get("source", ""))


def decode_example(record: bytes) -> dict[str, Any]:
    """Record bytes -> {"id", "source", <modality>: int32 array}; raises ValueError if malformed."""
    header, hlen = _read_header(record)
    start = 8 + hlen + ((-(8 + hlen)) % 8)
    out: dict[str, Any] = {"id": str(header.get("id", "")), "source": str(header.get("source", ""))}
    for entry in header.get("arrays", []):
        if not (isinstance(entry, list) and len(entry) == 4):
            raise ValueError(f"token-shard array entry must be [modality, dtype, shape, offset], got {entry!r}")
        m, dtype, shape, off = entry
        if m not in MODALITY_RANKS or dtype != "int32" or len(shape) != MODALITY_RANKS[m]:
            raise ValueError(f"bad token-shard array entry {entry!r}: expected one of {list(MODALITY_RANKS)} "
                             "as int32 of the modality's rank")
        count = int(np.prod(shape))
        if off < 0 or count < 0 or start + off + 4 * count > len(record):
            raise ValueError(f"token-shard array {m} of shape {shape} runs past the end of the record")
        out[m] = np.frombuffer(record, "<i4", count, start + off).reshape(shape).astype(np.int32)
    return out


# ---- directory metadata ------------------------------------------------------------------------

def write_meta(token_dir: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Writes meta.json: `codes` {modality: local vocab}, `fixed_lengths`, `audio` {levels, codebook}."""
    for k in ("codes", "fixed_lengths", "audio"):
        if k not in meta:
            raise ValueError(f"token meta needs {k!r}; got keys {sorted(meta)}")
    d = pathlib.Path(token_dir)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / META_FILE, json.dumps({"format": FORMAT, "version": VERSION, **meta}, indent=2,
                                            sort_keys=True))


def read_meta(token_dir: str | os.PathLike) -> dict[str, Any]:
    path = pathlib.Path(token_dir) / META_FILE
    if not path.is_file():
        raise ValueError(f"no token shards at {token_dir}: expected {path} "
                         "(write them with `python launch/tokenize_corpus.py`)")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{path}: expected format {FORMAT!r} version {VERSION}, got "
                         f"{meta.get('format')!r} version {meta.get('version')!r}")
    return meta


# ---- shards ------------------------------------------------------------------------------------

def shard_path(token_dir, split: str, index: int) -> pathlib.Path:
    return pathlib.Path(token_dir) / f"{split}-{index:05d}.array_record"


def manifest_path(token_dir, split: str) -> pathlib.Path:
    return pathlib.Path(token_dir) / f"{split}.manifest.json"


def done_path(token_dir, split: str, index: int) -> pathlib.Path:
    return pathlib.Path(token_dir) / f"{split}-{index:05d}.done.json"


def read_manifest(token_dir, split: str) -> dict[str, Any]:
    """{"shards": {index: {"file", "examples", "skipped"}}, "done": bool}: the finished shards (from the
    manifest and the per-shard done files); `done` once every shard of the split is finished."""
    p = manifest_path(token_dir, split)
    m = json.loads(p.read_text()) if p.is_file() else {"shards": {}, "done": False}
    m["shards"] = {int(k): v for k, v in m.get("shards", {}).items()}
    for f in pathlib.Path(token_dir).glob(f"{split}-*.done.json") if pathlib.Path(token_dir).is_dir() else ():
        try:
            index = int(f.name[len(split) + 1:-len(".done.json")])
        except ValueError:
            continue
        m["shards"][index] = json.loads(f.read_text())
    counts = {v.get("of") for v in m["shards"].values() if v.get("of")}
    if not m.get("done") and len(counts) == 1:
        n = counts.pop()
        m["done"] = set(range(n)) <= set(m["shards"])
    return m


def write_shard(token_dir, split: str, index: int, examples, *, skipped: dict[str, int] | None = None,
                done: bool = False, of: int | None = None) -> pathlib.Path:
    """Writes shard `index` (of `of`) of `split` from example dicts atomically, then marks it finished."""

    path = shard_path(token_dir, split, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_path(path) as tmp:
        writer = ArrayRecordWriter(str(tmp), "group_size:1")
        try:
            for ex in examples:
                writer.write(encode_example(ex))
                n += 1
        finally:
            writer.close()
    mark_shard(token_dir, split, index, path.name, n, skipped or {}, done=done, of=of)
    return path


def mark_shard(token_dir, split: str, index: int, file: str, examples: int, skipped: dict[str, int],
               *, done: bool = False, of: int | None = None) -> None:
    """Records shard `index` as finished (its own done file); `done` (or all `of` shards finished) also
    writes the split's manifest."""
    entry = {"file": file, "examples": int(examples), "skipped": dict(skipped)}
    if of is not None:
        entry["of"] = int(of)
    atomic_write_text(done_path(token_dir, split, index), json.dumps(entry, sort_keys=True))
    m = read_manifest(token_dir, split)
    if done or m["done"]:
        write_manifest(token_dir, split, m["shards"])


def write_manifest(token_dir, split: str, shards: dict[int, dict]) -> None:
    """The split's manifest: every finished shard and done=True (identical from any process)."""
    m = {"done": True, "shards": {str(k): v for k, v in sorted(shards.items())}}
    atomic_write_text(manifest_path(token_dir, split), json.dumps(m, indent=1, sort_keys=True))


def clear_split(token_dir, split: str) -> None:
    """Forgets which shards of `split` are finished (they are rewritten)."""
    manifest_path(token_dir, split).unlink(missing_ok=True)
    for f in pathlib.Path(token_dir).glob(f"{split}-*.done.json"):
        f.unlink()


class TokenShardSource:
    """Random-access records (raw bytes) of one split; decode each with `decode_example`."""

    def __init__(self, token_dir: str | os.PathLike, split: str):
        self.meta = read_meta(token_dir)
        m = read_manifest(token_dir, split)
        if not m["shards"]:
            raise ValueError(f"no {split!r} shards under {token_dir}: expected {manifest_path(token_dir, split)}")
        if not m.get("done"):
            raise ValueError(f"the {split!r} token shards under {token_dir} are incomplete (the tokenize run "
                             "stopped early); rerun `python launch/tokenize_corpus.py` to finish them")
        files = [str(pathlib.Path(token_dir) / s["file"]) for _, s in sorted(m["shards"].items())
                 if s["examples"] > 0]
        if not files:
            raise ValueError(f"the {split!r} token shards under {token_dir} hold no examples")
        # grain takes ~2 s to import: writers and manifest readers (`make demo`) skip it
        from grain.sources import ArrayRecordDataSource

        self.token_dir, self.split, self.files = str(token_dir), split, files
        self._source = ArrayRecordDataSource(files)

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> bytes:
        return self._source[index]

    def __repr__(self) -> str:
        return f"TokenShardSource({self.token_dir!r}, {self.split!r}, n={len(self)})"

    def sources(self) -> list[str]:
        """Each record's source, in record order (headers only; a record that does not parse counts as "")."""
        out = []
        for i in range(len(self)):
            try:
                out.append(record_source(self[i]))
            except ValueError:
                out.append("")  # skipped as corrupt when it is decoded
        return out


class WeightedRecords:
    """A view of `records` in which each source's records appear `weights[source]` times per epoch (default 1):
    whole repeats for the integer part, a fixed random subset for the fraction. The order is a fixed
    permutation, so contiguous per-process slices each hold every source. `key` names the weights in errors.
    """

    def __init__(self, records, sources: list[str], weights: dict[str, float], seed: int = 0,
                 key: str = "data.source_weights"):
        unknown = sorted(set(weights) - set(sources))
        if unknown:
            raise ValueError(f"{key} names {unknown}, which no record has; the sources are "
                             f"{sorted(set(sources))}")
        rng = np.random.default_rng(seed)
        by_source: dict[str, list[int]] = {}
        for i, s in enumerate(sources):
            by_source.setdefault(s, []).append(i)
        picked = []
        for s, idx in sorted(by_source.items()):
            w = float(weights.get(s, 1.0))
            whole, frac = int(w), w - int(w)
            picked += idx * whole
            picked += rng.permutation(idx)[:round(frac * len(idx))].tolist()
        if not picked:
            raise ValueError(f"{key} {weights} leave no records to train on")
        self.records, self.index = records, rng.permutation(np.asarray(picked, np.int64))
        self.weights = dict(weights)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"WeightedRecords({self.records!r}, {self.weights}, n={len(self)})"

    def __getitem__(self, index: int):
        return self.records[int(self.index[index])]
