"""`make demo` orchestration (omni/demo.py) on stand-in stages: reuse, failure, stale outputs, timings."""
import json
import sys

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
    # Moving the first stage's output away redoes it; the later stages are then stale in turn.
    (tmp_path / "out/a.txt").unlink()
    assert demo.run("out", root=tmp_path, stage_list=_stages("b")) == 2
    assert "out/b.txt, out/bench.json" in capsys.readouterr().err and (tmp_path / "out/a.txt").exists()


def test_outputs_without_records_are_adopted(tmp_path):
    (tmp_path / "out").mkdir()
    for f in ("a.txt", "b.txt", "bench.json"):
        (tmp_path / "out" / f).write_text("old")
    assert demo.run("out", root=tmp_path, stage_list=_stages()) == 0
    assert (tmp_path / "out/a.txt").read_text() == "old"
    assert set(json.loads((tmp_path / "out/stages.json").read_text())) == {"first", "second", "bench"}


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
