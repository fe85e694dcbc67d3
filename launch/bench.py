"""Benchmarks: `python launch/bench.py NAME [--json] [args...]`.

Each benchmark lives in `omni/bench/NAME.py` and defines `run(argv: list[str]) -> dict`; this entry
point prints the dict (one JSON object with --json, else a readable table).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import omni.bench
from omni.cli import absl_flags_parsed


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(omni.bench.__path__) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(available()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in available():
        print(f"unknown benchmark {name!r}; expected one of {available()}", file=sys.stderr)
        return 2
    as_json = "--json" in rest
    rest = [a for a in rest if a != "--json"]
    result = importlib.import_module(f"omni.bench.{name}").run(rest)
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
