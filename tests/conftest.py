"""Test setup: 8 fake CPU devices for sharding tests and unoptimised CPU code generation (before jax is imported),
one persistent compilation cache for the suite, absl flags parsed."""
import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# 8 fake devices unless the environment says otherwise, and, where the CPU is the platform (not in `make
# accel-check`, which clears JAX_PLATFORMS), the CPU backend's LLVM code generation at -O0: the suite's time is
# mostly compiling small programs that then run a few steps, and the programs (the HLO, its fusions, its float
# semantics: no fast math either way) are the same; only the machine code is less optimised. Measured on the
# compile-heavy study and model tests, no cache: 127 s -> 81 s wall (2 workers, 2 idle cores). A level named in
# XLA_FLAGS wins.
TEST_XLA_FLAGS = {"--xla_force_host_platform_device_count": "8"}
if os.environ["JAX_PLATFORMS"].strip() == "cpu":
    TEST_XLA_FLAGS["--xla_backend_optimization_level"] = "0"
flags_env = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join([flags_env] * bool(flags_env) + [
    f"{k}={v}" for k, v in TEST_XLA_FLAGS.items() if k not in flags_env])

ROOT = pathlib.Path(__file__).resolve().parent.parent
# JAX's persistent compilation cache, shared by both xdist workers and every process a test starts (they inherit
# the environment): the suite compiles the same small programs in many tests and subprocesses, and compiling is most
# of its time. An entry's key is the program with its compile options (devices included) and the jax/XLA versions,
# so only the identical program ever reuses it. Every entry is kept (jax's defaults skip programs that compile in
# under 1 s: most of the suite's). With no size limit jax writes without file locks (its LRU eviction would list the
# whole directory on every write); a process that reads another's half-written entry gets a cache miss and a
# warning, never a wrong program. `pytest_configure` empties the suite's own cache past CACHE_LIMIT_BYTES, and so
# does `pytest --cache-clear` (it is in pytest's .pytest_cache/d); a JAX_COMPILATION_CACHE_DIR set outside is used
# and never emptied.
OWN_COMPILATION_CACHE = ROOT / ".pytest_cache" / "d" / "jax-compilation-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(OWN_COMPILATION_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
CACHE_LIMIT_BYTES = 2 << 30  # a cold run writes ~0.1 GB

from omni.cli import absl_flags_parsed  # noqa: E402

absl_flags_parsed()  # grain worker processes read absl flags

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


HARDWARE_MARKS = ("gpu", "tpu")


def _backend() -> str:
    """jax's backend, without starting one when the environment already pins the CPU (the default here)."""
    if os.environ.get("JAX_PLATFORMS", "").strip() == "cpu":
        return "cpu"
    import jax
    return jax.default_backend()


def _bound_compilation_cache(limit: int = CACHE_LIMIT_BYTES) -> None:
    """Empty the suite's own compilation cache once it outgrows `limit` (runs of changing code add entries that
    are never read again); called once per session, before any worker starts. A directory named by
    JAX_COMPILATION_CACHE_DIR is left alone."""
    own = OWN_COMPILATION_CACHE
    if os.environ["JAX_COMPILATION_CACHE_DIR"] == str(own) and own.is_dir() and \
            sum(f.stat().st_size for f in own.iterdir()) > limit:
        import shutil
        shutil.rmtree(own, ignore_errors=True)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist), not an xdist worker
        _bound_compilation_cache()
    _refuse_ungrouped_xdist(config)


def _refuse_ungrouped_xdist(config):
    """pytest 9.2's structured node ids stop pytest-xdist <= 3.8's `--dist loadgroup` from grouping, silently
    (pytest-xdist#1386): the suite's groups (one libtpu user, one user of the multi-process ports, shared fitted
    tokenizers) would split across workers. Refuse that pair with what to do, before any worker starts."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    import xdist
    from packaging.version import Version
    if Version(pytest.__version__) >= Version("9.2") and Version(xdist.__version__) <= Version("3.8.0"):
        raise pytest.UsageError(f"--dist loadgroup does not group with pytest {pytest.__version__} and pytest-xdist "
                                f"{xdist.__version__} (pytest-xdist#1386): `make setup` installs the pinned pytest<9.2")


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` / `tpu` skip, with the reason, where jax has no such backend (e.g. on CI)."""
    marked = [(item, m) for item in items for m in HARDWARE_MARKS if item.get_closest_marker(m)]
    if not marked:
        return
    backend = _backend()
    for item, m in marked:
        if backend != m:
            item.add_marker(pytest.mark.skip(
                reason=f"needs a {m.upper()} (jax backend here: {backend}); `make accel-check` runs it on one"))
