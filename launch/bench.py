"""Benchmarks: `python launch/bench.py NAME [--json] [args...]`.

Each benchmark is one decorated definition, `@BENCHMARKS.register("NAME") def run(argv: list[str]) -> dict`,
in `omni/bench/NAME.py`; this entry point prints the dict (one JSON object with --json, else a readable table).
"""
from __future__ import annotations

import json
import sys

from omni.bench import BENCHMARKS
from omni.cli import absl_flags_parsed


def available() -> list[str]:
    return sorted(BENCHMARKS.names())


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(available()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; expected one of {available()}", file=sys.stderr)
        return 2
    as_json = "--json" in rest
    rest = [a for a in rest if a != "--json"]
    try:
        result = BENCHMARKS.get(name)(rest)
    except ValueError as e:  # bad input: one line naming what was expected, no traceback
        print(f"bench {name}: {e}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
