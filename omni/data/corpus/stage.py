"""Per-source stage files: a source's finished examples in one array_record file plus a summary JSON.

A stage is keyed by source name + version + settings; a finished stage with the same key is reused,
which makes rebuilding incremental. Files appear atomically (written to a temp name, then renamed).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from array_record.python.array_record_module import ArrayRecordReader, ArrayRecordWriter

from omni.atomic import atomic_path, atomic_write_json
from omni.data.corpus.records import decode_example, encode_example

_IMPORT = re.compile(r"^from omni\.data\.corpus(?:\.(\w+))? import ([\w, ]+)", re.M)


def code_digest(module: str) -> str:
    """Hash of a corpus module's source and of the corpus modules it imports, transitively."""
    pkg = pathlib.Path(__file__).parent
    seen, todo, h = set(), [module], hashlib.sha1()
    while todo:
        name = todo.pop()
        path = pkg / f"{name}.py"
        if name in seen or not path.exists():
            continue
        seen.add(name)
        text = path.read_text()
        h.update(name.encode() + text.encode())
        for sub, names in _IMPORT.findall(text):
            todo.extend([sub] if sub else [n.strip() for n in names.split(",")])
    return h.hexdigest()[:12]


def stage_key(source: str, version: int, settings: dict[str, Any], code: str = "") -> str:
    """Key of a stage: changes with the source's version, settings, or code (so stale stages are rebuilt)."""
    blob = json.dumps({"source": source, "version": version, "settings": settings, "code": code}, sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclasses.dataclass
class Stage:
    """One source's stage: `<dir>/<source>-<key>.array_record` and `.json` (counts, skips, license)."""

    dir: pathlib.Path
    source: str
    key: str

    @property
    def records(self) -> pathlib.Path:
        return self.dir / f"{self.source}-{self.key}.array_record"

    @property
    def summary_path(self) -> pathlib.Path:
        return self.dir / f"{self.source}-{self.key}.json"

    @property
    def items_path(self) -> pathlib.Path:
        return self.dir / f"{self.source}-{self.key}.items.json"

    @property
    def skips_path(self) -> pathlib.Path:
        """The skip log: one JSON line per skipped item (`item`, `reason`, `detail`)."""
        return self.dir / f"{self.source}-{self.key}.skips.jsonl"

    def done(self) -> bool:
        return self.records.exists() and self.summary_path.exists()

    def summary(self) -> dict[str, Any]:
        return json.loads(self.summary_path.read_text())

    def write(self, examples: Iterator[dict[str, Any]], summary: Callable[[], dict[str, Any]]) -> int:
        """Write all examples, then the summary `summary()` returns once they are (the stage is done when its
        summary exists, so a build killed before that point redoes the stage)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        items: list[str] = []
        with atomic_path(self.records) as tmp:
            writer = ArrayRecordWriter(str(tmp), "group_size:1")
            try:
                for ex in examples:
                    writer.write(encode_example(ex))
                    items.append(ex["item"])
            finally:
                writer.close()
            n = len(items)
            self.items_path.write_text(json.dumps(items))  # lets the TFDS builder split without decoding
        summary = dict(summary(), examples=n, key=self.key)
        atomic_write_json(self.summary_path, summary, indent=1, sort_keys=True)
        return n

    def read(self) -> Iterator[dict[str, Any]]:
        reader = ArrayRecordReader(str(self.records))
        try:
            for i in range(reader.num_records()):
                yield decode_example(reader.read([i])[0])
        finally:
            reader.close()
