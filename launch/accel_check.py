"""The check for a machine with a GPU or TPU: `make accel-check` (or `python launch/accel_check.py [--out F]`).

Runs, each in its own process with a time limit (all together under 8 minutes):
  tests      `pytest -m "gpu or tpu"`: the hardware-marked tests, compiled for this chip (not interpreted)
  attention  `bench.py attention` (kernel speed per impl, length and mask)
  train      a short `bench.py train --config base` (a few steps at a small batch)
  sample     a short `bench.py sample` (cached vs recomputed decoding, batch scaling)
and writes one JSON (default runs/accel_check.json) with every figure, the device, jax's version and the test
counts. Exit 0 when every part passed, 1 otherwise. On a machine whose jax backend is the CPU it prints one
line saying so and exits 0 (nothing to check; `make test` covers the CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUDGET_S = 460  # all parts together; the 8 minutes leave room for start-up and the JSON

# (part, argv after the interpreter, time limit in seconds)
PARTS = [
    ("tests", ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu or tpu", "tests"], 150),
    ("attention", ["launch/bench.py", "attention", "--json", "--lengths", "2048,8192", "--iters", "5"], 100),
    ("train", ["launch/bench.py", "train", "--json", "--config", "base", "--steps", "5", "--warmup", "1",
               "train.batch_size=8"], 130),
    ("sample", ["launch/bench.py", "sample", "--json", "--new-tokens", "128", "--batch-sizes", "1,4",
                "--scaling-tokens", "64", "--repeats", "1"], 80),
]

_PROBE = ("import json, jax; d = jax.devices(); print(json.dumps({'backend': jax.default_backend(), "
          "'device': d[0].device_kind, 'device_count': len(d), 'jax_version': jax.__version__}))")


def child_env() -> dict[str, str]:
    """The environment of every part: jax free to pick the accelerator (the test setup pins the CPU unless
    JAX_PLATFORMS is set, so it is set, to empty: every platform jax finds)."""
    return dict(os.environ, JAX_PLATFORMS="", PYTHONUNBUFFERED="1")


def run(argv: list[str], timeout: float) -> dict:
    """Runs `python argv...` in the repository root: {"rc", "seconds", "timed_out", "stdout", "stderr"}."""
    t = time.time()
    try:
        p = subprocess.run([sys.executable, *argv], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                           timeout=timeout)
        rc, out, err, timed_out = p.returncode, p.stdout, p.stderr, False
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        rc, out, err, timed_out = None, text(e.stdout), text(e.stderr), True
    return {"rc": rc, "seconds": round(time.time() - t, 1), "timed_out": timed_out, "stdout": out, "stderr": err}


def probe(runner=run) -> dict:
    """{"backend", "device", "device_count", "jax_version"} from a separate process (this one never holds
    the accelerator, so the parts get all of its memory)."""
    r = runner(["-c", _PROBE], 120)
    if r["rc"] != 0:
        raise RuntimeError(f"could not start jax: {(r['stderr'] or r['stdout']).strip()[-2000:]}")
    return last_json(r["stdout"])


def last_json(stdout: str) -> dict:
    """The last line of `stdout` that is a JSON object (benchmarks print theirs last with --json)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the output")


def test_counts(junit_xml: pathlib.Path) -> dict:
    """passed / failed / errors / skipped / total of a pytest junit XML report."""
    root = ET.parse(junit_xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    c = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {"passed": c["tests"] - c["failures"] - c["errors"] - c["skipped"], "failed": c["failures"],
            "errors": c["errors"], "skipped": c["skipped"], "total": c["tests"]}


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:]


def check(info: dict, runner=run, parts=PARTS, budget_s: float = BUDGET_S, log=print) -> dict:
    """Runs every part (each within its limit and what is left of the budget) and assembles the report."""
    t0 = time.time()
    report: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info, "parts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        junit = pathlib.Path(tmp) / "junit.xml"
        for name, argv, limit in parts:
            left = budget_s - (time.time() - t0)
            if left < 10:
                report["parts"][name] = {"ok": False, "error": "no time left in the budget"}
                continue
            if name == "tests":
                argv = [*argv, f"--junitxml={junit}"]
            log(f"[accel-check] {name}: {' '.join(argv)} (limit {min(limit, left):.0f}s)")
            r = runner(argv, min(limit, left))
            part = {"rc": r["rc"], "seconds": r["seconds"], "timed_out": r["timed_out"]}
            if name == "tests":
                part.update(test_counts(junit) if junit.exists() else {"error": "pytest wrote no report"})
                part["ok"] = r["rc"] == 0 and part.get("failed", 1) == 0 and part.get("errors", 1) == 0
                if not part["ok"]:
                    part["output"] = _tail(r["stdout"] + r["stderr"])
            else:
                try:
                    part["result"] = last_json(r["stdout"]) if r["rc"] == 0 else None
                except ValueError as e:
                    part["error"] = str(e)
                part["ok"] = r["rc"] == 0 and part.get("result") is not None
                if not part["ok"]:
                    part["output"] = _tail(r["stderr"] or r["stdout"])
            report["parts"][name] = part
            log(f"[accel-check] {name}: {'ok' if part['ok'] else 'FAILED'} ({r['seconds']}s)")
    report["seconds"] = round(time.time() - t0, 1)
    report["ok"] = all(p["ok"] for p in report["parts"].values())
    return report


def main(argv: list[str], runner=run) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "runs" / "accel_check.json")
    a = p.parse_args(argv)
    info = probe(runner)
    if info["backend"] not in ("gpu", "tpu"):
        print(f"no GPU or TPU here (backend {info['backend']}): nothing to check")
        return 0
    report = check(info, runner)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    failed = [n for n, part in report["parts"].items() if not part["ok"]]
    print(f"[accel-check] {report['device']} ({report['backend']}, jax {report['jax_version']}): "
          + (f"FAILED: {', '.join(failed)}" if failed else "every part passed") + f"; wrote {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
