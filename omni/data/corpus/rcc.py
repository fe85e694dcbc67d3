"""Reader for Qt binary resource files (`.rcc`, format versions 1-3), where GCompris keeps its data."""
from __future__ import annotations

import struct
import zlib


class RccError(ValueError):
    """The bytes are not a readable Qt resource file."""


def read_rcc(buf: bytes) -> dict[str, bytes]:
    """All files of a `.rcc` as {"/path/in/resource": bytes}; zlib-compressed entries are inflated."""
    if buf[:4] != b"qres" or len(buf) < 20:
        raise RccError("not a Qt resource file (missing 'qres' magic)")
    version, tree, data, names = struct.unpack(">IIII", buf[4:20])
    if version not in (1, 2, 3):
        raise RccError(f"unsupported rcc format version {version}; expected 1, 2 or 3")
    entry = 14 if version == 1 else 22
    out: dict[str, bytes] = {}

    def name(off: int) -> str:
        (n,) = struct.unpack(">H", buf[names + off:names + off + 2])
        return buf[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(index: int, path: str, depth: int):
        if depth > 64:
            raise RccError("resource tree too deep (corrupt file?)")
        o = tree + index * entry
        name_off, flags = struct.unpack(">IH", buf[o:o + 6])
        here = f"{path}/{name(name_off)}" if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", buf[o + 6:o + 14])
            for i in range(count):
                walk(first + i, here, depth + 1)
            return
        (data_off,) = struct.unpack(">I", buf[o + 10:o + 14])
        (size,) = struct.unpack(">I", buf[data + data_off:data + data_off + 4])
        raw = buf[data + data_off + 4:data + data_off + 4 + size]
        if flags & 1:
            raw = zlib.decompress(raw[4:])  # qCompress: 4-byte big-endian length, then zlib
        elif flags & 4:
            raise RccError(f"{here}: zstd-compressed resources are not supported")
        out[here] = raw

    try:
        walk(0, "", 0)
    except (struct.error, zlib.error, UnicodeDecodeError) as e:
        raise RccError(f"corrupt rcc: {e}") from None
    return out
