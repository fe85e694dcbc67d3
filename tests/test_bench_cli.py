"""`launch/bench.py`: benchmarks are looked up in the `omni.bench.BENCHMARKS` registry (one decorated `run`
per module); --help lists them, an unknown name is a one-line error with exit 2."""
import pathlib

from omni.bench import BENCHMARKS
from tests.launch_utils import launch_script

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _launcher():
    return launch_script("bench")


def test_every_bench_module_registers_its_run_under_its_name():
    modules = sorted(p.stem for p in (ROOT / "omni" / "bench").glob("[!_]*.py"))
    assert sorted(BENCHMARKS.names()) == modules
    for name in modules:
        fn = BENCHMARKS.get(name)
        assert fn.__module__ == f"omni.bench.{name}" and fn.__name__ == "run"


def test_help_lists_benchmarks_and_unknown_name_exits_2(capsys):
    bench = _launcher()
    assert bench.main(["--help"]) == 0
    assert "benchmarks: attention, data, mot, sample" in capsys.readouterr().out
    assert bench.main([]) == 2
    capsys.readouterr()
    assert bench.main(["nope", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unknown benchmark 'nope'; expected one of ['attention'") and err.count("\n") == 1
