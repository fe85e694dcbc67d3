"""SIGTERM (preemption on TPU pods and clusters) -> save a checkpoint at the next step and exit cleanly.

Single process: a Python SIGTERM handler sets a flag. Several processes: JAX's preemption sync
manager (started by jax.distributed.initialize) agrees on one step at which every process saves.
"""
from __future__ import annotations

import signal
import threading

import jax


class Preemption:
    """`requested(step)` is True once at the step where the run should save and stop."""

    def __init__(self):
        self._flag = threading.Event()
        self._previous = None
        self._multi = jax.process_count() > 1
        # With several processes JAX's own SIGTERM notifier must keep the signal; don't replace it.
        if not self._multi and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum, frame):
        self._flag.set()

    def requested(self, step: int) -> bool:
        if self._multi:
            from jax._src import distributed
            if distributed.global_state.preemption_sync_manager is not None:
                from jax.experimental import multihost_utils
                if multihost_utils.reached_preemption_sync_point(step):
                    return True
        return self._flag.is_set() and not self._multi

    def close(self):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
