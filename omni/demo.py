"""`make demo`: the main job as a list of stages, each an entry point run as a subprocess.

A stage is skipped when its outputs already exist (finished stages are reused on re-runs); stages that
checkpoint internally (tokenizer and model training, tokenization) resume when interrupted.

`OUT/stages.json` records a fingerprint of each finished stage: its arguments, the settings that shape its
outputs (tokenizer presets, the demo config) and the fingerprints of the stages before it. When a finished
stage's fingerprint no longer matches (a preset or config changed, or an earlier stage was redone), the
demo stops and names the outputs to move away; it never reuses stale outputs and never deletes any.
The evaluate stage samples every task direction into the report.

Stages name the stages they need (`after`; default: every stage before them). With `jobs` > 1 the runner starts up to
`jobs` stages whose needs are met at once, first the one with the longest expected chain of work still ahead of it
(its `cost` plus the longest chain of stages that wait for it: the critical path): the tokenizers train side by side
(each uses about one of a small machine's cores). Benchmark stages (`Stage.benchmark`: the tokenizer benchmark and
the fullres image tokenizer only it measures) run only when asked for (`run(benchmarks=True)`, `make demo-bench`) or
named by `only`; a skipped stage is still fingerprinted, so skipping it changes no other stage's fingerprint. The
tokenizer benchmark then runs beside the model's training as a background process (`Stage.background`: Linux's
SCHED_IDLE): it runs on about one core and nothing waits for it, so it takes the cycles that training and then the
evaluation leave instead of a core from training (training's step 1.06-1.2x its time alone, 1.6x at equal priority).
Stages that may overlap write their output to OUT/logs/<stage>.log (the last lines are printed when one fails); a
failure stops the others with SIGTERM, which makes training stages checkpoint, and starts nothing new. Fingerprints
chain in list order whatever the execution order.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from omni import modality as mod
from omni.atomic import atomic_write_json, tmp_path
from omni.config import config_to_json, load_config, to_dict
from omni.data.corpus.reader import dataset_dir
from omni.data.token_shards import read_manifest
from omni.eval.generate import GenOptions

MODALITIES = mod.names()


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]
    outputs: tuple[str, ...]        # all exist (and `check` passes) -> the stage is done
    stdout_to: str | None = None    # capture stdout into this file (e.g. a JSON benchmark)
    check: Callable[[pathlib.Path], bool] | None = None
    settings: Callable[[], object] | None = None   # JSON-able settings that shape the outputs besides argv
    after: tuple[str, ...] | None = None  # stages whose outputs it reads (None: every stage before it)
    cost: float = 0.0                     # expected seconds on 2 cores (orders the ready stages, see `priorities`)
    background: bool = False              # SCHED_IDLE (elsewhere nice 19): it gets only the cycles no other stage wants
    benchmark: bool = False               # runs only when asked for (`run(benchmarks=True)`, `make demo-bench`)

    def done(self, root: pathlib.Path) -> bool:
        return all((root / o).exists() for o in self.outputs) and (self.check is None or self.check(root))

    def fingerprint(self, upstream: str) -> str:
        """Hash of the arguments (not the interpreter path), the settings and the earlier stages' hashes."""
        payload = {"argv": list(self.argv[1:]), "settings": self.settings() if self.settings else None,
                   "upstream": upstream}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _corpus_done(data_dir: str) -> Callable[[pathlib.Path], bool]:
    def check(root: pathlib.Path) -> bool:
        try:
            dataset_dir(root / data_dir)
            return True
        except FileNotFoundError:
            return False
    return check


def _tokens_done(token_dir: str) -> Callable[[pathlib.Path], bool]:
    def check(root: pathlib.Path) -> bool:
        return all(read_manifest(root / token_dir, split).get("done") for split in ("train", "validation"))
    return check


def _tokenizer_settings(modality: str, name: str = "demo") -> Callable[[], object]:
    def settings():
        # heavy (jax, flax, grain): the stage runner itself stays light, its stages import them
        from omni_tokenizers.trainers import preset
        return to_dict(preset(modality, name))
    return settings


def _config_settings(overrides: tuple[str, ...]) -> Callable[[], object]:
    def settings():
        return config_to_json(load_config("demo", list(overrides)))
    return settings


# Expected seconds of the long stages on the 2-core development machine (runs of 2026-12-05; audio scaled to its
# 3000 steps of 2026-12-06 at the shifted-sum depthwise convs' step), so that the runner starts the ready stage
# with the most work still ahead of it first; only the order depends on them.
COSTS = {"tokenizer:text": 10, "tokenizer:image": 510, "tokenizer:audio": 830, "tokenizer:video": 310,
         "tokenizer:image_fullres": 1040, "tokenize": 190, "train": 1630, "tokenizer benchmark": 300,
         "evaluate": 450}


def stages(out: str = "runs/demo", python: str = sys.executable) -> list[Stage]:
    c, tok, tokens, model, bundle = (f"{out}/corpus", f"{out}/tokenizers", f"{out}/tokens", f"{out}/model",
                                     f"{out}/bundle")
    s = [Stage("corpus", (python, "launch/build_corpus.py", "--out", c), (c,), check=_corpus_done(c))]
    for m in MODALITIES:
        s.append(Stage(f"tokenizer:{m}", (python, "launch/train_tokenizer.py", "--modality", m, "--config", "demo",
                                          "--data", c, "--out", f"{tok}/{m}"), (f"{tok}/{m}/config.json",),
                       settings=_tokenizer_settings(m), after=("corpus",)))
    # the image preset at full-resolution WebP's floor (~1280 bits): measured by the tokenizer benchmark only
    s.append(Stage("tokenizer:image_fullres", (python, "launch/train_tokenizer.py", "--modality", "image", "--config",
                                               "fullres", "--data", c, "--out", f"{tok}/image_fullres"),
                   (f"{tok}/image_fullres/config.json",), settings=_tokenizer_settings("image", "fullres"),
                   after=("corpus",), benchmark=True))
    tokenizers = tuple(f"tokenizer:{m}" for m in MODALITIES)
    common = (f"data.corpus_dir={c}", f"data.tokenizer_dir={tok}", f"data.token_dir={tokens}")
    s.append(Stage("tokenize", (python, "launch/tokenize_corpus.py", "--config", "demo", *common),
                   (tokens,), check=_tokens_done(tokens), settings=_config_settings(common),
                   after=("corpus", *tokenizers)))
    steps = load_config("demo").steps
    s.append(Stage("train", (python, "launch/train.py", "--config", "configs/demo.py", f"run_dir={model}",
                             *common), (f"{model}/checkpoints/{steps}",),
                   settings=_config_settings((f"run_dir={model}", *common)), after=("tokenize",)))
    s.append(Stage("export", (python, "launch/export.py", "--run", model, "--out", bundle),
                   (f"{bundle}/manifest.json",), after=("train",)))
    s.append(Stage("tokenizer benchmark", (python, "launch/bench.py", "tokenizers", "--json", "--dir", tok, "--data", c,
                                           "--plot", f"{out}/tokenizers_rd.png"),
                   (f"{out}/tokenizers_bench.json",), stdout_to=f"{out}/tokenizers_bench.json",
                   after=("corpus", *tokenizers, "tokenizer:image_fullres"), background=True, benchmark=True))
    # the decoding is spelled out so that a change of the evaluation's defaults re-runs this stage
    s.append(Stage("evaluate", (python, "launch/eval.py", "--bundle", bundle, "--corpus", c, "--tokens", tokens,
                                "--run", model, "--out", out, *_decoding_flags()),
                   (f"{out}/report.json", f"{out}/report.md"), settings=_default_lengths,
                   after=("corpus", "tokenize", "train", "export")))
    return [dataclasses.replace(st, cost=COSTS.get(st.name, 0.0)) for st in s]


def _default_lengths() -> str:
    """The sampler's default-length rule, which no flag spells out: a new rule re-runs the evaluate stage."""
    from omni.sampling.targets import DEFAULT_BUDGET_RULE
    return DEFAULT_BUDGET_RULE


def _decoding_flags() -> tuple[str, ...]:
    """The evaluation's default media decoding as launch/eval.py flags."""
    flags = {"--media-guidance": GenOptions.media_guidance, "--audio-temperature": GenOptions.audio_temperature,
             "--audio-guidance": GenOptions.audio_guidance}
    out = tuple(x for k, v in flags.items() if v is not None for x in (k, str(v)))
    pairs = [("--candidates", GenOptions.candidates), ("--rerank", GenOptions.rerank)]
    return out + tuple(x for flag, given in pairs for m, v in given for x in (flag, f"{m}={v}"))


def _read_records(path: pathlib.Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); move it away to re-derive it from the outputs") from e
    if not isinstance(records, dict):
        raise ValueError(f"{path} must hold a JSON object {{stage: fingerprint}}, got {type(records).__name__}")
    return records


def _write_json(path: pathlib.Path, records: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, records, indent=2)


def _record_timings(path: pathlib.Path, timings: dict[str, float], total: float, jobs: int = 1) -> None:
    """Appends this invocation to `runs` and keeps the latest time of every stage that ran in `stages_s`
    (re-runs that reuse stages never erase an earlier measurement)."""
    data = {"stages_s": {}, "runs": []}
    if path.exists():
        try:
            data.update(json.loads(path.read_text()))
        except json.JSONDecodeError:
            path.rename(path.with_suffix(".unreadable.json"))
    data["stages_s"].update(timings)
    data["runs"].append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "stages_s": timings,
                         "total_s": round(total, 1), "jobs": jobs})
    _write_json(path, data)


def _needs(st: Stage, order: list[str]) -> tuple[str, ...]:
    if st.after is None:
        return tuple(order[:order.index(st.name)])
    unknown = [n for n in st.after if n not in order]
    if unknown:
        raise ValueError(f"stage {st.name!r} needs unknown stages {unknown}; the stages are {order}")
    return st.after


def priorities(stages: list[Stage], needs: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Per stage: its cost plus the costliest chain of the given stages that (transitively) wait for it. Starting
    the highest first keeps the critical path moving (a long stage that nothing waits for goes beside it)."""
    after: dict[str, list[str]] = {st.name: [] for st in stages}
    for st in stages:
        for n in needs[st.name]:
            if n in after:
                after[n].append(st.name)
    cost = {st.name: st.cost for st in stages}
    memo: dict[str, float] = {}

    def rank(name: str) -> float:
        if name not in memo:
            memo[name] = cost[name] + max((rank(d) for d in after[name]), default=0.0)
        return memo[name]
    return {st.name: rank(st.name) for st in stages}


def _tail(path: pathlib.Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclasses.dataclass
class _Started:
    stage: Stage
    head: str
    proc: subprocess.Popen
    t0: float
    log: pathlib.Path | None
    files: list
    tmp: pathlib.Path | None


def _background() -> None:
    """In a stage's child process before exec (its threads and children inherit it): the lowest CPU priority,
    SCHED_IDLE where the OS has it. Beside the demo's training step, nice 10 still made the step 1.13x as long as
    alone, SCHED_IDLE 1.06x (1.2x on a slower VM; README, "The demo run")."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def _start(st: Stage, head: str, root: pathlib.Path, out: str, env: dict, to_log: bool) -> _Started:
    """Starts the stage's process: stdout to `stdout_to` (via a temporary file) and, with `to_log`, everything
    else to OUT/logs/<stage>.log; otherwise to this console."""
    files, log, tmp, stdout, stderr = [], None, None, None, None
    if to_log:
        log = root / out / "logs" / (re.sub(r"[^A-Za-z0-9_.-]+", "_", st.name) + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        stdout = stderr = open(log, "a")  # a re-run appends: an earlier attempt's log is kept
        files.append(stdout)
    if st.stdout_to:
        (root / st.stdout_to).parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(root / st.stdout_to)  # a failed stage's output stays there to be read
        stdout = open(tmp, "w")
        files.append(stdout)
    print(f"{head}: {' '.join(st.argv[1:])}" + (f"  (log: {log.relative_to(root)})" if log else ""), flush=True)
    proc = subprocess.Popen(st.argv, cwd=root, env=env, stdout=stdout, stderr=stderr,
                            preexec_fn=_background if st.background else None)
    return _Started(st, head, proc, time.time(), log, files, tmp)


def run(out: str = "runs/demo", root: pathlib.Path | None = None, only: tuple[str, ...] = (),
        stage_list: list[Stage] | None = None, jobs: int = 1, benchmarks: bool = False) -> int:
    """Runs the stages not done yet, up to `jobs` at once (see the module docstring), the `benchmark` ones only with
    `benchmarks` or when `only` names them; returns the exit code of the first stage that failed, 2 for stale
    outputs, 0 when every stage that was to run is done."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    root = root or pathlib.Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    all_stages = stages(out) if stage_list is None else stage_list
    order = [st.name for st in all_stages]
    records_path = root / out / "stages.json"
    records = _read_records(records_path)
    t0 = time.time()
    timings: dict[str, float] = {}
    fps, heads, todo, upstream = {}, {}, [], ""
    for i, st in enumerate(all_stages, 1):
        fp = fps[st.name] = st.fingerprint(upstream)  # chained in list order, whatever the execution order
        upstream = fp
        heads[st.name] = head = f"[demo {i}/{len(all_stages)}] {st.name}"
        named = st.name.split(":")[0] in only   # `only` naming a benchmark stage runs it
        if (only and not named) or (st.benchmark and not benchmarks and not named):
            continue
        if st.done(root):
            if st.name in records and records[st.name] != fp:
                stale = [o for later in all_stages[i - 1:] for o in later.outputs if (root / o).exists()]
                print(f"{head}: finished earlier with other settings or inputs (a preset or config changed, or "
                      f"an earlier stage was redone), so its outputs are stale. Nothing was deleted: move away "
                      f"{', '.join(stale)} to redo it and the stages after it (or use another --out).",
                      file=sys.stderr, flush=True)
                return 2
            if st.name not in records:   # finished before fingerprints were recorded: adopt its outputs
                records[st.name] = fp
                _write_json(records_path, records)
            print(f"{head}: done already (reusing {', '.join(st.outputs)})", flush=True)
            continue
        todo.append(st)
    needs = {st.name: _needs(st, order) for st in todo}
    rank = priorities(todo, needs)
    finished = set(order) - {st.name for st in todo}  # done, reused or not selected by `only`
    pending, running, failed = list(todo), [], 0
    while pending or running:
        if not failed:
            ready = [st for st in pending if all(n in finished for n in needs[st.name])]
            ready.sort(key=lambda st: (-rank[st.name], order.index(st.name)) if jobs > 1 else order.index(st.name))
            for st in ready[:jobs - len(running)]:
                pending.remove(st)
                running.append(_start(st, heads[st.name], root, out, env, to_log=jobs > 1))
            if not running:
                raise ValueError(f"stages {[st.name for st in pending]} wait for stages that never run")
        elif not running:  # after a failure: the others have ended, nothing new starts
            break
        while not (ended := [r for r in running if r.proc.poll() is not None]):
            time.sleep(0.2)
        for r in ended:
            running.remove(r)
            for f in r.files:
                f.close()
            st, rc, seconds = r.stage, r.proc.returncode, round(time.time() - r.t0, 1)
            if rc == 0 and r.tmp is not None:
                os.replace(r.tmp, root / st.stdout_to)
            if rc != 0:
                print(f"{r.head}: FAILED with exit code {rc}; fix the error above and re-run `make demo` "
                      f"(finished stages are reused).", file=sys.stderr, flush=True)
                if r.log:
                    print(f"--- last lines of {r.log.relative_to(root)} ---\n{_tail(r.log)}", file=sys.stderr,
                          flush=True)
                if not failed:
                    failed = rc
                    for other in running:  # training stages checkpoint on SIGTERM; a re-run resumes them
                        print(f"{other.head}: stopping (SIGTERM) because {st.name} failed", file=sys.stderr,
                              flush=True)
                        other.proc.send_signal(signal.SIGTERM)
                continue
            if failed and not st.done(root):
                print(f"{r.head}: stopped; a re-run resumes it", file=sys.stderr, flush=True)
                continue
            records[st.name] = fps[st.name]
            _write_json(records_path, records)
            finished.add(st.name)
            timings[st.name] = seconds  # finished stages only: a failed or stopped one never replaces a time
            print(f"{r.head}: finished in {seconds:.0f}s (total {time.time() - t0:.0f}s)", flush=True)
    _record_timings(root / out / "demo_timings.json", timings, time.time() - t0, jobs)
    if failed:
        return failed
    print(f"[demo] all stages done in {time.time() - t0:.0f}s; report: {out}/report.md", flush=True)
    return 0
