"""Benchmarks: each is one decorated definition, `run(argv) -> dict`, in `omni/bench/NAME.py`:

    @BENCHMARKS.register("NAME")
    def run(argv: list[str]) -> dict: ...

`python launch/bench.py NAME [--json] [args...]` looks NAME up here (importing only that module).
"""
from __future__ import annotations

from collections.abc import Callable

from omni.registry import Registry

BENCHMARKS: Registry[Callable[[list[str]], dict]] = Registry("benchmark", package="omni.bench")
