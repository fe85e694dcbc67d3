"""Helpers for training tests: launch/train.py subprocesses sharing the suite's persistent compilation cache."""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TRAIN = [sys.executable, str(ROOT / "launch" / "train.py"), "--config", "tiny", "--no-progress"]


def env(devices: int = 8, **extra) -> dict:
    """Subprocess environment: `devices` fake CPU devices; the suite's other XLA flags and its compilation cache
    (tests/conftest.py: identical programs compile once across the suite's processes) inherited."""
    e = dict(os.environ)
    others = re.sub(r"--xla_force_host_platform_device_count=\d+", "", e.get("XLA_FLAGS", "")).split()
    e.update(XLA_FLAGS=" ".join([f"--xla_force_host_platform_device_count={devices}", *others]), JAX_PLATFORMS="cpu",
             PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    e.pop("OMNI_DISTRIBUTED", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start(args, env_, log_path) -> subprocess.Popen:
    log = open(log_path, "w")
    return subprocess.Popen(TRAIN + list(args), env=env_, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def run(args, env_, log_path, timeout=300) -> tuple[int, str]:
    p = start(args, env_, log_path)
    rc = p.wait(timeout=timeout)
    return rc, pathlib.Path(log_path).read_text()


def committed_steps(run_dir) -> list[int]:
    """Steps of fully written checkpoints (orbax renames a temporary directory to `<step>` at commit)."""
    d = pathlib.Path(run_dir) / "checkpoints"
    if not d.exists():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit())


def rows(run_dir, kind="train") -> list[dict]:
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a line being written right now
            continue
        if r.get("kind") == kind:
            out.append(r)
    return out


def wait_for(pred, proc: subprocess.Popen, timeout=240, what="condition"):
    t = time.time()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"the run exited (rc {proc.returncode}) before {what}")
        if time.time() - t > timeout:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
