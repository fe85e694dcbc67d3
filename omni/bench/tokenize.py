"""Distributed tokenization throughput: examples/s per modality with 1 and 2 processes, and where the time goes.

    python launch/bench.py tokenize --json [--corpus runs/demo/corpus] [--tokenizers runs/demo/tokenizers]
        [--config demo] [--split train] [--modalities text,image,audio,video] [--processes 1,2]

For each modality and process count, launch/tokenize_corpus.py runs as that many local processes
(jax.distributed, one CPU device each) with only that modality's tokenizer, into a temporary token
dir. examples/s = examples holding the modality / the slowest process's tokenize time (start-up and
compilation excluded); decode_fraction = time reading examples (media decoding) / (reading + encoding),
summed over processes, from the 1-process run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

from omni.bench import BENCHMARKS

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run(a, modality: str, processes: int, work: pathlib.Path) -> list[dict]:
    toks = work / f"tok-{modality}"
    toks.mkdir(parents=True, exist_ok=True)
    link = toks / modality
    if not link.exists():
        link.symlink_to(pathlib.Path(a.tokenizers).resolve() / modality)
    out = work / f"tokens-{modality}-{processes}"
    cmd = [sys.executable, str(ROOT / "launch" / "tokenize_corpus.py"), "--config", a.config, "--no-progress",
           "--json", "--splits", a.split, "--devices", "1", f"data.corpus_dir={a.corpus}",
           f"data.tokenizer_dir={toks}", f"data.token_dir={out}"]
    port = _port()
    procs = []
    for i in range(processes):
        env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu",
                   PYTHONPATH=str(ROOT))
        if processes > 1:
            env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes),
                       JAX_PROCESS_ID=str(i))
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    reports = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"tokenize_corpus.py failed ({modality}, {processes} processes): {stderr[-2000:]}")
        reports.append(json.loads(stdout.strip().splitlines()[-1])[a.split])
    return reports


@BENCHMARKS.register("tokenize")
def run(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="bench.py tokenize")
    ap.add_argument("--corpus", default="runs/demo/corpus")
    ap.add_argument("--tokenizers", default="runs/demo/tokenizers")
    ap.add_argument("--config", default="demo")
    ap.add_argument("--split", default="train")
    ap.add_argument("--modalities", default="text,image,audio,video")
    ap.add_argument("--processes", default="1,2")
    a = ap.parse_args(argv)
    for what, path in (("corpus", a.corpus), ("tokenizers", a.tokenizers)):
        if not pathlib.Path(path).exists():
            raise SystemExit(f"bench tokenize: no {what} at {path} (run `make demo` or pass --{what})")
    modalities = [m for m in a.modalities.split(",") if m]
    counts = [int(p) for p in a.processes.split(",") if p]
    rates: dict[str, dict[str, float]] = {}
    decode: dict[str, float] = {}
    seconds: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="omni-bench-tokenize-") as tmp:
        for n in counts:
            rates[str(n)], seconds[str(n)] = {}, {}
            for m in modalities:
                reps = _run(a, m, n, pathlib.Path(tmp))
                wall = max(r["seconds"] for r in reps)
                examples = sum(r["examples"] for r in reps)
                rates[str(n)][m] = round(examples / max(wall, 1e-9), 2)
                seconds[str(n)][m] = round(wall, 2)
                if n == counts[0]:
                    read = sum(r["read_seconds"] for r in reps)
                    enc = sum(r["encode_seconds"] for r in reps)
                    decode[m] = round(read / max(read + enc, 1e-9), 3)
    return {"examples_per_s": rates, "decode_fraction": decode, "tokenize_seconds": seconds,
            "split": a.split, "corpus": str(a.corpus), "devices_per_process": 1,
            "cpu_count": os.cpu_count()}
