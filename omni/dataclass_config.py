"""Typed dataclass configs, the generic part: `key=value` overrides parsed by each field's type, dict / JSON
round trips, validation of nested sections, field help, and running Python config files.

The schemas themselves (the MoT's `Config`, the tokenizer jobs) live in `omni/config.py` and `configs/`;
nothing here knows a field by name. A field's meaning is its `help` metadata (`option(default, "help")`),
and a `ConfigError` about a key ends with that help, so a bad override says what the key is for.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import pathlib
import re
import sys
import traceback
import types
import typing
from typing import Any, Literal


class ConfigError(ValueError):
    """A config key or value is not what the config schema expects."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field carrying its meaning: `batch_size: int = option(8, "global rows per step")`."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help} if help else {})


def field_help(cls_or_obj, name: str) -> str:
    """The `help` metadata of field `name` ("" when it has none or is not a field)."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    if not dataclasses.is_dataclass(cls):
        return ""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    return ""


def with_help(msg: str, key: str, cls_or_obj, name: str) -> str:
    """`msg` ending with `(key: help)` when the field has help and the message does not already carry it."""
    h = field_help(cls_or_obj, name)
    return f"{msg} ({key}: {h})" if h and h not in msg else msg


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _finite(val: float, key: str, given: Any) -> float:
    if not math.isfinite(val):
        raise ConfigError(f"{key}: expected a finite number, got {given!r}")
    return val


def check_finite(cfg, prefix: str = ""):
    """Every float of a dataclass config (nested sections and tuples included) must be finite: NaN or inf
    set in a config file is refused like one given as an override."""
    def walk(v, key):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name), f"{key}.{f.name}" if key else f.name)
        elif isinstance(v, (tuple, list)):
            for i, x in enumerate(v):
                walk(x, f"{key}[{i}]")
        elif isinstance(v, float):
            _finite(v, key, v)
    walk(cfg, prefix)


def _parse_value(text: str, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _parse_value(text, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: cannot parse {text!r} as {tp}")
    if origin is Literal:
        if text not in [str(a) for a in args]:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {text!r}")
        return next(a for a in args if str(a) == text)
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected a boolean (true/false), got {text!r}")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {text!r}") from None
    if tp is float:
        try:
            val = float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}") from None
        return _finite(val, key, text)
    if tp is str:
        return text
    if origin is tuple:
        try:
            val = json.loads(text)
            if not isinstance(val, list):  # one item without a comma: periods=3 -> (3,)
                val = [val]
        except json.JSONDecodeError:  # comma form: a,b,c -> each item parsed by its own type
            items = [t.strip() for t in text.split(",") if t.strip() != ""]
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_parse_value(t, args[0], f"{key}[{i}]") for i, t in enumerate(items))
            if args and len(args) == len(items):
                return tuple(_parse_value(t, a, f"{key}[{i}]") for i, (t, a) in enumerate(zip(args, items)))
            val = items
        return _coerce(val, tp, key)
    if tp is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    raise ConfigError(f"{key}: overrides of type {tp} are not supported")


def _coerce(val: Any, tp: Any, key: str) -> Any:
    """Coerces a JSON-like value into `tp` (used for overrides and for config.json round trips)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(val, dict):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {type(val).__name__}")
        return from_dict(tp, val, prefix=key + "." if key else "")
    if origin in (typing.Union, types.UnionType):
        if val is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(val, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {val!r} matches none of {tp}")
    if origin is Literal:
        if val not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {val!r}")
        return val
    if origin is tuple:
        if isinstance(val, str):
            return _parse_value(val, tp, key)
        if not isinstance(val, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {val!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(val))
        if args and len(args) != len(val):
            raise ConfigError(f"{key}: expected {len(args)} items, got {len(val)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, val))) if args \
            else tuple(val)
    if tp is Any:
        return tuple(val) if isinstance(val, list) else val
    if tp is bool:
        if not isinstance(val, bool):
            raise ConfigError(f"{key}: expected a boolean, got {val!r}")
        return val
    if tp is int:
        if isinstance(val, bool) or not isinstance(val, int):
            raise ConfigError(f"{key}: expected an integer, got {val!r}")
        return val
    if tp is float:
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {val!r}")
        return _finite(float(val), key, val)
    if tp is str:
        if not isinstance(val, str):
            raise ConfigError(f"{key}: expected a string, got {val!r}")
        return val
    return val


def to_dict(cfg) -> dict:
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def from_dict(cls, d: dict, prefix: str = ""):
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + k for k in unknown]}; "
                          f"valid keys under {prefix or 'the top level'}: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in d.items()}
    return cls(**kwargs)


def _set_path(obj, parts: list[str], text: str, key: str):
    """Returns a copy of dataclass `obj` with the dotted path `parts` set from `text`."""
    p = parts[0]
    names = [f.name for f in dataclasses.fields(obj)]
    if p not in names:
        where = key[: len(key) - len(".".join(parts))].rstrip(".") or "the top level"
        raise ConfigError(f"unknown config key {key!r}: {p!r} is not one of {names} under {where}")
    tp = _hints(type(obj))[p]
    if len(parts) == 1:
        if dataclasses.is_dataclass(tp):
            sub = [f.name for f in dataclasses.fields(tp)]
            raise ConfigError(f"{key} is a section; set one of its keys, e.g. {key}.{sub[0]}")
        try:
            value = _parse_value(text.strip(), tp, key)
        except ConfigError as e:
            raise ConfigError(with_help(str(e), key, obj, p)) from None
        return dataclasses.replace(obj, **{p: value})
    child = getattr(obj, p)
    if not dataclasses.is_dataclass(child):
        raise ConfigError(f"{p!r} is not a config section; cannot set {key}")
    return dataclasses.replace(obj, **{p: _set_path(child, parts[1:], text, key)})


def apply_overrides(cfg, overrides) -> Any:
    """Returns a copy of `cfg` with each `a.b.c=value` applied; validates the result."""
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} must look like key=value (e.g. model.d_model=256)")
        key, text = ov.split("=", 1)
        key = key.strip()
        cfg = _set_path(cfg, key.split("."), text, key)
    check_finite(cfg)
    validate_tree(cfg)
    return cfg


def validate_tree(cfg, prefix: str = ""):
    """Runs `validate()` of every nested section (deepest first), then of `cfg`. A section's error that does
    not name its keys gets them: `model.kernel: ...` (the first field it mentions) or `model: ...`."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            validate_tree(v, f"{prefix}{f.name}.")
    if not hasattr(cfg, "validate"):
        return
    try:
        cfg.validate()
    except ValueError as e:
        msg = str(e)
        key = _first_field(msg, cfg)
        if not prefix or prefix in msg:
            if not isinstance(e, ConfigError):
                msg = f"{key}: {msg}" if key and not msg.startswith(key) else msg
        else:
            msg = f"{prefix}{key}: {msg}" if key else f"{prefix.rstrip('.')}: {msg}"
        named = _first_field(msg, cfg, prefix)  # the key the message is about, for its help
        raise ConfigError(with_help(msg, f"{prefix}{named}", cfg, named) if named else msg) from None


def _first_field(msg: str, cfg, prefix: str = "") -> str | None:
    """The field of `cfg` whose name occurs first in `msg` as a word, bare or as `prefix` + name (None if none
    does)."""
    pre = f"(?:{re.escape(prefix)})?" if prefix else ""
    hits = [(m.start(), f.name) for f in dataclasses.fields(cfg)
            for m in [re.search(rf"(?<![\w.]){pre}{re.escape(f.name)}(?!\w)", msg)] if m]
    return min(hits)[1] if hits else None


def exit_config_error(e: Exception) -> typing.NoReturn:
    print(f"config error: {e}", file=sys.stderr)
    raise SystemExit(2)


def exec_config_file(path: pathlib.Path, prefix: str) -> types.ModuleType:
    """Runs a Python config file as a module; a file that does not run is a ConfigError naming file and line."""
    path = pathlib.Path(path)
    try:
        spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: syntax error in the config file: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 -- whatever a config file raises, it is a bad config file
        raise ConfigError(f"{path} fails to load: {_where(e, path)}{type(e).__name__}: {e}") from None
    return module


def call_config_file(path: pathlib.Path, fn, *args):
    """Calls a config file's get_config(...); what it raises is a ConfigError naming the file."""
    try:
        return fn(*args)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"{path}: get_config() fails: {_where(e, path)}{type(e).__name__}: {e}") from None


def _where(e: BaseException, path: pathlib.Path) -> str:
    """`line N: ` of the innermost traceback frame inside `path` (empty if none)."""
    here = path.resolve()
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if pathlib.Path(f.filename).resolve() == here]
    return f"line {lines[-1]}: " if lines else ""
