"""`make demo`: the main job as a list of stages, each an entry point run as a subprocess.

A stage is skipped when its outputs already exist (finished stages are reused on re-runs); stages that
checkpoint internally (tokenizer and model training, tokenization) resume when interrupted.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable

MODALITIES = ("text", "image", "audio", "video")


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]
    outputs: tuple[str, ...]        # all exist (and `check` passes) -> the stage is done
    stdout_to: str | None = None    # capture stdout into this file (e.g. a JSON benchmark)
    check: Callable[[pathlib.Path], bool] | None = None

    def done(self, root: pathlib.Path) -> bool:
        return all((root / o).exists() for o in self.outputs) and (self.check is None or self.check(root))


def _corpus_done(data_dir: str) -> Callable[[pathlib.Path], bool]:
    def check(root: pathlib.Path) -> bool:
        from omni.data.corpus.reader import dataset_dir
        try:
            dataset_dir(root / data_dir)
            return True
        except FileNotFoundError:
            return False
    return check


def _tokens_done(token_dir: str) -> Callable[[pathlib.Path], bool]:
    def check(root: pathlib.Path) -> bool:
        from omni.data.token_shards import read_manifest
        return all(read_manifest(root / token_dir, split).get("done") for split in ("train", "validation"))
    return check


def stages(out: str = "runs/demo", python: str = sys.executable) -> list[Stage]:
    c, tok, tokens, model, bundle = (f"{out}/corpus", f"{out}/tokenizers", f"{out}/tokens", f"{out}/model",
                                     f"{out}/bundle")
    s = [Stage("corpus", (python, "launch/build_corpus.py", "--out", c), (c,), check=_corpus_done(c))]
    for m in MODALITIES:
        s.append(Stage(f"tokenizer:{m}", (python, "launch/train_tokenizer.py", "--modality", m, "--config", "demo",
                                          "--data", c, "--out", f"{tok}/{m}"), (f"{tok}/{m}/config.json",)))
    common = (f"data.corpus_dir={c}", f"data.tokenizer_dir={tok}", f"data.token_dir={tokens}")
    s.append(Stage("tokenize", (python, "launch/tokenize_corpus.py", "--config", "demo", *common),
                   (tokens,), check=_tokens_done(tokens)))
    from omni.config import load_config
    steps = load_config("demo").steps
    s.append(Stage("train", (python, "launch/train.py", "--config", "configs/demo.py", f"run_dir={model}",
                             *common), (f"{model}/checkpoints/{steps}",)))
    s.append(Stage("export", (python, "launch/export.py", "--run", model, "--out", bundle),
                   (f"{bundle}/manifest.json",)))
    s.append(Stage("tokenizer benchmark", (python, "launch/bench.py", "tokenizers", "--json", "--dir", tok),
                   (f"{out}/tokenizers_bench.json",), stdout_to=f"{out}/tokenizers_bench.json"))
    s.append(Stage("evaluate", (python, "launch/eval.py", "--bundle", bundle, "--corpus", c, "--tokens", tokens,
                                "--run", model, "--out", out), (f"{out}/report.json", f"{out}/report.md")))
    return s


def run(out: str = "runs/demo", root: pathlib.Path | None = None, only: tuple[str, ...] = ()) -> int:
    root = root or pathlib.Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    all_stages = stages(out)
    t0 = time.time()
    timings = {}
    for i, st in enumerate(all_stages, 1):
        if only and st.name.split(":")[0] not in only:
            continue
        head = f"[demo {i}/{len(all_stages)}] {st.name}"
        if st.done(root):
            print(f"{head}: done already (reusing {', '.join(st.outputs)})", flush=True)
            continue
        print(f"{head}: {' '.join(st.argv[1:])}", flush=True)
        t = time.time()
        if st.stdout_to:
            with open(root / st.stdout_to + ".tmp", "w") as f:
                rc = subprocess.call(st.argv, cwd=root, env=env, stdout=f)
            if rc == 0:
                os.replace(root / (st.stdout_to + ".tmp"), root / st.stdout_to)
        else:
            rc = subprocess.call(st.argv, cwd=root, env=env)
        timings[st.name] = round(time.time() - t, 1)
        if rc != 0:
            print(f"{head}: FAILED with exit code {rc}; fix the error above and re-run `make demo` "
                  f"(finished stages are reused).", file=sys.stderr, flush=True)
            return rc
        print(f"{head}: finished in {timings[st.name]:.0f}s (total {time.time() - t0:.0f}s)", flush=True)
    (root / out).mkdir(parents=True, exist_ok=True)
    with open(root / out / "demo_timings.json", "w") as f:
        json.dump({"stages_s": timings, "total_s": round(time.time() - t0, 1)}, f, indent=2)
    print(f"[demo] all stages done in {time.time() - t0:.0f}s; report: {out}/report.md", flush=True)
    return 0
