"""An orbax item holding each JAX process's data-iterator state as its own JSON file.

Files are `process_<i>-of-<n>.json` (JSON, never pickle). Restoring with a different process count
finds no file for this process and returns None: the caller then starts a fresh data order.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


def _name(index: int, count: int) -> str:
    return f"process_{index}-of-{count}.json"


class DataStateHandler(ocp.CheckpointHandler):
    """Writes/reads this process's JSON-able iterator state (a dict) under the item directory."""

    def save(self, directory: epath.Path, args: DataStateSave):
        directory = epath.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _name(jax.process_index(), jax.process_count())).write_text(json.dumps(args.state))

    def restore(self, directory: epath.Path, args: DataStateRestore | None = None) -> dict[str, Any] | None:
        path = epath.Path(directory) / _name(jax.process_index(), jax.process_count())
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def metadata(self, directory: epath.Path):
        return None

    def finalize(self, directory: epath.Path):
        pass

    def close(self):
        pass


@ocp.args.register_with_handler(DataStateHandler, for_save=True)
@dataclasses.dataclass
class DataStateSave(ocp.args.CheckpointArgs):
    state: dict[str, Any]


@ocp.args.register_with_handler(DataStateHandler, for_restore=True)
@dataclasses.dataclass
class DataStateRestore(ocp.args.CheckpointArgs):
    pass
