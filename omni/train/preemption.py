"""SIGTERM (preemption on TPU pods and clusters) -> save a checkpoint at the next step and exit cleanly.

Single process: a Python SIGTERM handler sets a flag (`install_early_handler` lets an entry point catch
a SIGTERM that arrives while it is still importing or compiling). Several processes: JAX's preemption
sync manager (started by jax.distributed.initialize) agrees on one step at which every process saves.
"""
from __future__ import annotations

import signal
import threading

_REQUESTED = threading.Event()
_installed = False


def _on_signal(signum, frame):
    _REQUESTED.set()


def install_early_handler():
    """Catch SIGTERM from now on (call first thing in an entry point; cheap, imports nothing)."""
    global _installed
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        _installed = True


class Preemption:
    """`requested(step)` is True at the step where the run should save and stop."""

    def __init__(self):
        import jax  # on use: this module imports nothing, so entry points install the handler first

        self._multi = jax.process_count() > 1
        self._previous = None
        # With several processes JAX's own SIGTERM notifier must keep the signal; don't replace it.
        if not self._multi and not _installed and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _on_signal)

    def requested(self, step: int) -> bool:
        if self._multi:
            from jax._src import distributed  # on use: private module, only for multi-process runs
            if distributed.global_state.preemption_sync_manager is not None:
                from jax.experimental import multihost_utils  # on use (see above)
                return bool(multihost_utils.reached_preemption_sync_point(step))
            return False
        return _REQUESTED.is_set()

    def close(self):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
