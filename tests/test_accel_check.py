"""launch/accel_check.py (`make accel-check`): the CPU path, and the report assembled from its parts (a fake
runner stands in for the processes that need a GPU or TPU)."""
import json
import pathlib

from tests.launch_utils import launch_script


def _module():
    return launch_script("accel_check")


def test_cpu_only_machine_says_so_and_exits_0(tmp_path, capsys):
    ac = _module()
    out = tmp_path / "accel.json"
    assert ac.main(["--out", str(out)]) == 0  # jax in a fresh process: its backend here is the CPU
    assert capsys.readouterr().out == "no GPU or TPU here (backend cpu): nothing to check\n"
    assert not out.exists()


def _fake_runner(fail=(), timeout=()):
    calls = []

    def runner(argv, limit):
        calls.append((argv, limit))
        r = {"rc": 0, "seconds": 1.0, "timed_out": False, "stdout": "", "stderr": ""}
        if argv[0] == "-c":
            r["stdout"] = json.dumps({"backend": "gpu", "device": "NVIDIA H200", "device_count": 1,
                                      "jax_version": "0.10.2"}) + "\n"
            return r
        name = "tests" if argv[:2] == ["-m", "pytest"] else argv[1]
        if name in timeout:
            return dict(r, rc=None, timed_out=True, seconds=limit, stdout="partial")
        if name == "tests":
            junit = pathlib.Path(next(a for a in argv if a.startswith("--junitxml=")).split("=", 1)[1])
            junit.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="4" failures="0" '
                             'errors="0" skipped="2"></testsuite></testsuites>')
            r["stdout"] = "2 passed, 2 skipped"
        else:
            r["stdout"] = "compiling...\n" + json.dumps({"bench": name, "tokens_per_s": 123.0}) + "\n"
        if name in fail:
            r.update(rc=1, stderr=f"{name} broke")
        return r

    return runner, calls


def test_report_has_every_figure_device_and_test_counts(tmp_path):
    ac = _module()
    runner, calls = _fake_runner()
    out = tmp_path / "runs" / "accel.json"
    assert ac.main(["--out", str(out)], runner=runner) == 0
    rep = json.loads(out.read_text())
    assert (rep["backend"], rep["device"], rep["jax_version"], rep["ok"]) == ("gpu", "NVIDIA H200", "0.10.2", True)
    assert list(rep["parts"]) == ["tests", "attention", "train", "sample"]
    t = rep["parts"]["tests"]
    assert (t["passed"], t["failed"], t["errors"], t["skipped"], t["total"], t["ok"]) == (2, 0, 0, 2, 4, True)
    for name in ("attention", "train", "sample"):
        assert rep["parts"][name]["result"] == {"bench": name, "tokens_per_s": 123.0}
    argvs = [a for a, _ in calls]
    assert ["-m", "pytest"] == argvs[1][:2] and "gpu or tpu" in argvs[1]
    assert argvs[3][:5] == ["launch/bench.py", "train", "--json", "--config", "base"]
    assert sum(limit for _, limit in calls[1:]) <= ac.BUDGET_S <= 8 * 60


def test_a_failed_or_timed_out_part_fails_the_check_and_keeps_the_rest(tmp_path):
    ac = _module()
    runner, _ = _fake_runner(fail=("attention",), timeout=("sample",))
    out = tmp_path / "accel.json"
    assert ac.main(["--out", str(out)], runner=runner) == 1
    rep = json.loads(out.read_text())
    assert rep["ok"] is False and rep["parts"]["train"]["ok"] is True
    att, smp = rep["parts"]["attention"], rep["parts"]["sample"]
    assert (att["ok"], att["rc"], att["result"], att["output"]) == (False, 1, None, "attention broke")
    assert (smp["ok"], smp["timed_out"], smp["rc"]) == (False, True, None)
