"""The one registry idiom: a named table filled by decorating definitions, looked up by name.

    BENCHMARKS = Registry("benchmark", package="omni.bench")

    @BENCHMARKS.register("attention")          # in omni/bench/attention.py
    def run(argv): ...

    BENCHMARKS.get("attention")                # imports omni.bench.attention on first use

Modalities, attention implementations, tokenizer kinds, tokenizer trainers, corpus sources, eval directions
and benchmarks are each one `Registry`. A registry with a `package` imports that package's modules on demand
(`get(name)` tries the module of that name first; `names()` imports them all), so a definition registers
itself where it lives and importing the registry stays cheap. `register` takes optional metadata, kept per
entry (`meta(name)`), and refuses a second definition under one name unless it is the same object.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """name -> object (in registration order), with per-entry metadata."""

    def __init__(self, kind: str, *, package: str | None = None, modules: dict[str, str] | None = None):
        self.kind = kind
        self.package = package  # modules of this package register on import
        self.modules = dict(modules or {})  # name -> module, where they differ from package.name
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._all_imported = package is None

    def register(self, name: str, obj: T | None = None, **meta) -> Any:
        """`@reg.register("name", key=value)` on a definition, or `reg.register("name", obj)`; returns obj."""
        if not name:
            raise ValueError(f"a {self.kind} needs a non-empty name")

        def add(o: T) -> T:
            if name in self._items and self._items[name] is not o:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = o
            self._meta[name] = dict(meta)
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Removes `name` (tests, plugins that add entries for a while)."""
        self._items.pop(name, None)
        self._meta.pop(name, None)

    def _import(self, name: str) -> None:
        if self.package is None or name in self._items:
            return
        module = self.modules.get(name, name)
        try:
            importlib.import_module(f"{self.package}.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"{self.package}.{module}":
                raise

    def _import_all(self) -> None:
        if self._all_imported:
            return
        pkg = importlib.import_module(self.package)
        for m in pkgutil.iter_modules(pkg.__path__):
            if not m.name.startswith("_"):
                importlib.import_module(f"{self.package}.{m.name}")
        for name in self.modules:  # entries whose module is named otherwise, nested ones included
            self._import(name)
        self._all_imported = True

    def get(self, name: str) -> T:
        self._import(name)
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {list(self.names())}")
        return self._items[name]

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def names(self) -> tuple[str, ...]:
        self._import_all()
        return tuple(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._import_all()
        return iter(list(self._items.items()))

    def where(self, pred: Callable[[dict[str, Any]], bool]) -> tuple[str, ...]:
        """Names whose metadata satisfies `pred`, in registration order."""
        return tuple(n for n in self.names() if pred(self._meta[n]))

    def __contains__(self, name: str) -> bool:
        self._import(name)
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._items)})"
