"""`make demo` orchestration (omni/demo.py) on stand-in stages: reuse, failure, stale outputs, timings."""
import dataclasses
import json
import os
import pathlib
import sys
import time

import pytest

from omni import demo


def _writer(path: str, text: str) -> tuple[str, ...]:
    return (sys.executable, "-c", f"import pathlib; p = pathlib.Path({path!r}); p.parent.mkdir(parents=True, "
                                  f"exist_ok=True); p.write_text({text!r})")


def _stages(setting: str = "a", fail_second: bool = False) -> list[demo.Stage]:
    second = (sys.executable, "-c", "raise SystemExit(3)") if fail_second else _writer("out/b.txt", "b")
    return [demo.Stage("first", _writer("out/a.txt", "a"), ("out/a.txt",), settings=lambda: {"x": setting}),
            demo.Stage("second", second, ("out/b.txt",)),
            demo.Stage("bench", (sys.executable, "-c", "print('{\"v\": 1}')"), ("out/bench.json",),
                       stdout_to="out/bench.json")]


def test_runs_all_then_reuses(tmp_path, capsys):
    assert demo.run("out", root=tmp_path, stage_list=_stages()) == 0
    assert (tmp_path / "out/a.txt").read_text() == "a" and json.loads((tmp_path / "out/bench.json").read_text())
    records = json.loads((tmp_path / "out/stages.json").read_text())
    assert set(records) == {"first", "second", "bench"}
    (tmp_path / "out/a.txt").write_text("kept")              # a re-run must not redo (or touch) finished stages
    capsys.readouterr()
    assert demo.run("out", root=tmp_path, stage_list=_stages()) == 0
    assert capsys.readouterr().out.count("done already") == 3
    assert (tmp_path / "out/a.txt").read_text() == "kept"
    timings = json.loads((tmp_path / "out/demo_timings.json").read_text())
    assert set(timings["stages_s"]) == {"first", "second", "bench"}   # the reuse run did not erase them
    assert [set(r["stages_s"]) for r in timings["runs"]] == [{"first", "second", "bench"}, set()]


def test_failure_stops_and_rerun_resumes(tmp_path, capsys):
    assert demo.run("out", root=tmp_path, stage_list=_stages(fail_second=True)) == 3
    assert "FAILED with exit code 3" in capsys.readouterr().err
    assert not (tmp_path / "out/bench.json").exists()
    assert demo.run("out", root=tmp_path, stage_list=_stages()) == 0
    assert (tmp_path / "out/b.txt").exists() and (tmp_path / "out/bench.json").exists()


def test_changed_settings_stop_with_the_outputs_to_move_and_delete_nothing(tmp_path, capsys):
    assert demo.run("out", root=tmp_path, stage_list=_stages("a")) == 0
    capsys.readouterr()
    assert demo.run("out", root=tmp_path, stage_list=_stages("b")) == 2
    err = capsys.readouterr().err
    assert "stale" in err and "out/a.txt, out/b.txt, out/bench.json" in err
    assert all((tmp_path / "out" / f).exists() for f in ("a.txt", "b.txt", "bench.json"))
    # Moving only the first stage's output away: the later stages are still stale, which is found before anything
    # runs (no stage starts an hour of work only to stop after it).
    (tmp_path / "out/a.txt").unlink()
    assert demo.run("out", root=tmp_path, stage_list=_stages("b")) == 2
    assert "out/b.txt, out/bench.json" in capsys.readouterr().err and not (tmp_path / "out/a.txt").exists()
    for f in ("b.txt", "bench.json"):
        (tmp_path / "out" / f).unlink()
    assert demo.run("out", root=tmp_path, stage_list=_stages("b")) == 0
    assert all((tmp_path / "out" / f).exists() for f in ("a.txt", "b.txt", "bench.json"))


def test_outputs_without_records_are_adopted(tmp_path):
    (tmp_path / "out").mkdir()
    for f in ("a.txt", "b.txt", "bench.json"):
        (tmp_path / "out" / f).write_text("old")
    assert demo.run("out", root=tmp_path, stage_list=_stages()) == 0
    assert (tmp_path / "out/a.txt").read_text() == "old"
    assert set(json.loads((tmp_path / "out/stages.json").read_text())) == {"first", "second", "bench"}


def test_benchmark_stages_run_only_when_asked_and_leave_the_others_fingerprints_alone(tmp_path, capsys):
    """`make demo` skips the benchmark stages (`make demo-bench` adds them); skipping one changes no other stage's
    fingerprint, so the stages a plain run finished are reused by the run that adds the benchmarks."""
    st = _stages()
    st[1] = dataclasses.replace(st[1], benchmark=True)   # "second" is a benchmark now
    assert demo.run("out", root=tmp_path, stage_list=st) == 0
    assert not (tmp_path / "out/b.txt").exists() and (tmp_path / "out/bench.json").exists()
    records = json.loads((tmp_path / "out/stages.json").read_text())
    assert set(records) == {"first", "bench"}
    capsys.readouterr()
    assert demo.run("out", root=tmp_path, stage_list=st, benchmarks=True) == 0
    assert capsys.readouterr().out.count("done already") == 2       # first and bench reused, not stale
    assert (tmp_path / "out/b.txt").read_text() == "b"
    assert json.loads((tmp_path / "out/stages.json").read_text())["bench"] == records["bench"]
    (tmp_path / "out/b.txt").unlink()
    assert demo.run("out", root=tmp_path, stage_list=st, only=("second",)) == 0   # named: it runs
    assert (tmp_path / "out/b.txt").exists()
    real = [s.name for s in demo.stages("runs/x", python="python") if s.benchmark]
    assert real == ["tokenizer:image_fullres", "tokenizer benchmark"]


def test_demo_stage_fingerprints_cover_presets_and_config():
    """The real stage list: tokenizer stages hash their preset, tokenize/train the demo config."""
    by_name = {s.name: s for s in demo.stages("runs/x", python="python")}
    assert [n for n in by_name] == ["corpus", "tokenizer:text", "tokenizer:image", "tokenizer:audio",
                                    "tokenizer:video", "tokenizer:image_fullres", "tokenize", "train", "export",
                                    "tokenizer benchmark", "evaluate"]
    fullres = by_name["tokenizer:image_fullres"]
    assert fullres.argv[fullres.argv.index("--config") + 1] == "fullres"
    assert fullres.settings() != by_name["tokenizer:image"].settings()  # its own preset is in its fingerprint
    video = by_name["tokenizer:video"].settings()
    assert video["model"]["channels"] == [32, 64] or tuple(video["model"]["channels"]) == (32, 64)
    assert "runs/x/tokens" in by_name["train"].settings()
    a = by_name["train"].fingerprint("up")
    assert a == by_name["train"].fingerprint("up") != by_name["train"].fingerprint("other")


def _timed(path: str, seconds: float, code: int = 0) -> tuple[str, ...]:
    """A stage that writes its start and end times to `path` (ends early, without output, on SIGTERM)."""
    return (sys.executable, "-c",
            "import pathlib, signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
            f"t = time.time(); time.sleep({seconds}); print('working'); sys.stdout.flush()\n"
            f"if {code}: sys.exit({code})\n"
            f"p = pathlib.Path({path!r}); p.parent.mkdir(parents=True, exist_ok=True)\n"
            "p.write_text(f'{t} {time.time()}')")


def _span(tmp_path, name):
    return tuple(map(float, (tmp_path / "out" / name).read_text().split()))


def test_jobs_run_independent_stages_side_by_side_longest_first_and_respect_needs(tmp_path, capsys):
    st = [demo.Stage("short", _timed("out/short", 1.0), ("out/short",), after=(), cost=1),
          demo.Stage("long", _timed("out/long", 1.5), ("out/long",), after=(), cost=9),
          demo.Stage("next", _timed("out/next", 0.1), ("out/next",), after=("short",))]
    assert demo.run("out", root=tmp_path, stage_list=st, jobs=2) == 0
    short, long_, nxt = (_span(tmp_path, n) for n in ("short", "long", "next"))
    assert short[0] < long_[1] and long_[0] < short[1]  # overlapped (which process is up first is up to the OS;
    # that the runner started the longer one first is checked on the console below)
    assert nxt[0] >= short[1]                        # waited for what it needs, not for `long`
    assert nxt[0] < long_[1]
    out = capsys.readouterr().out
    assert out.index("long: ") < out.index("short: ") and "out/logs/long.log" in out
    assert (tmp_path / "out/logs/short.log").read_text().strip() == "working"
    assert set(json.loads((tmp_path / "out/stages.json").read_text())) == {"short", "long", "next"}
    assert json.loads((tmp_path / "out/demo_timings.json").read_text())["runs"][-1]["jobs"] == 2


def test_a_failure_stops_the_stages_beside_it_and_records_only_finished_ones(tmp_path, capsys):
    st = [demo.Stage("slow", _timed("out/slow", 60), ("out/slow",), after=(), cost=9),
          demo.Stage("bad", _timed("out/bad", 0.5, code=5), ("out/bad",), after=(), cost=1),
          demo.Stage("after", _timed("out/after", 0), ("out/after",), after=("slow",))]
    t = time.time()
    assert demo.run("out", root=tmp_path, stage_list=st, jobs=2) == 5
    assert time.time() - t < 30                      # `slow` was stopped, not waited for
    err = capsys.readouterr().err
    assert "bad: FAILED with exit code 5" in err and "last lines of out/logs/bad.log" in err and "working" in err
    assert "slow: stopped" in err
    assert not any((tmp_path / "out" / n).exists() for n in ("slow", "bad", "after"))
    assert not (tmp_path / "out/stages.json").exists()


def test_a_background_stage_runs_at_the_lowest_cpu_priority_and_the_others_do_not(tmp_path):
    show = (sys.executable, "-c", "import os; print(os.sched_getscheduler(0) if hasattr(os, 'sched_getscheduler') "
                                  "else -1, os.nice(0))")
    st = [demo.Stage("side", show, ("out/side",), stdout_to="out/side", after=(), background=True),
          demo.Stage("main", show, ("out/main",), stdout_to="out/main", after=())]
    assert demo.run("out", root=tmp_path, stage_list=st, jobs=2) == 0
    side, main = ((tmp_path / "out" / n).read_text().split() for n in ("side", "main"))
    if hasattr(os, "SCHED_IDLE"):   # Linux
        assert (int(side[0]), int(main[0])) == (os.SCHED_IDLE, os.sched_getscheduler(0))
    else:                           # nice 19 instead
        assert int(side[1]) == 19
    assert int(main[1]) == os.nice(0)
    assert [s.name for s in demo.stages("runs/x", python="python") if s.background] == ["tokenizer benchmark"]


def test_unknown_needs_are_named():
    st = [demo.Stage("a", _timed("out/a", 0), ("out/a",), after=("corpuss",))]
    with pytest.raises(ValueError, match="unknown stages \\['corpuss'\\]"):
        demo.run("out", root=pathlib.Path("/nonexistent"), stage_list=st)


def test_real_stage_needs():
    by_name = {s.name: s for s in demo.stages("runs/x", python="python")}
    tokenizers = {f"tokenizer:{m}" for m in ("text", "image", "audio", "video")}
    for name in (*tokenizers, "tokenizer:image_fullres"):
        assert by_name[name].after == ("corpus",)
    assert set(by_name["tokenize"].after) == {"corpus", *tokenizers}       # not the benchmark-only fullres
    assert set(by_name["tokenizer benchmark"].after) >= {"tokenizer:image_fullres", *tokenizers}
    assert "tokenizer benchmark" not in by_name["evaluate"].after           # runs beside training
    assert max(by_name, key=lambda n: by_name[n].cost if n.startswith("tokenizer:") else 0) == \
        "tokenizer:image_fullres"
    # ...yet the tokenizers that training waits for start first: fullres only feeds the benchmark
    order = list(by_name)
    rank = demo.priorities(list(by_name.values()), {n: demo._needs(s, order) for n, s in by_name.items()})
    assert sorted(tokenizers | {"tokenizer:image_fullres"}, key=lambda n: -rank[n])[:2] == \
        ["tokenizer:audio", "tokenizer:image"]  # the two longest fits (audio: 3000 steps since the thirteenth session)
    assert rank["tokenizer:image"] == pytest.approx(sum(by_name[n].cost for n in (
        "tokenizer:image", "tokenize", "train", "export", "evaluate")))


def test_priorities_follow_the_critical_path():
    st = [demo.Stage("side", (), (), after=(), cost=9), demo.Stage("head", (), (), after=(), cost=2),
          demo.Stage("tail", (), (), after=("head",), cost=9), demo.Stage("end", (), (), after=("tail", "side"),
                                                                          cost=1)]
    rank = demo.priorities(st, {s.name: s.after for s in st})
    assert rank == {"side": 10, "head": 12, "tail": 10, "end": 1}
