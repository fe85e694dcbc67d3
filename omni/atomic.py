"""Atomic file writes: write a temp file beside the target, then `os.replace` it into place.

A reader never sees a half-written file and a crash leaves the old file (or none). The temp name carries the
process id, so processes writing the same file never write into one temp file:

    atomic_write_json(path, obj, indent=2)
    with atomic_path(path) as tmp:            # for writers that take a path (array_record, np.save, ...)
        write_somehow(tmp)

(Folders written in one go — exported bundles, unpacked Debian packages — are renamed into place by their own
code: a folder needs its old copy removed first.)
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any


def tmp_path(path: str | os.PathLike) -> pathlib.Path:
    """The temp name `atomic_path` writes before renaming onto `path` (`NAME.PID.tmp`, beside it)."""
    path = pathlib.Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a temp path beside `path`; renames it onto `path` when the block ends normally. When the block
    raises, `path` is left as it was and the temp file is removed."""
    path = pathlib.Path(path)
    tmp = tmp_path(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs) -> None:
    """`json.dumps(obj, **dumps_kwargs)` written atomically (the text is made before any file is touched)."""
    atomic_write_text(path, json.dumps(obj, **dumps_kwargs))
