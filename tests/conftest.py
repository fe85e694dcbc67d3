"""Test setup: 8 fake CPU devices for sharding tests (before jax is imported), absl flags parsed."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
flags_env = os.environ["XLA_FLAGS"]
if "xla_force_host_platform_device_count" not in flags_env:
    os.environ["XLA_FLAGS"] = flags_env + " --xla_force_host_platform_device_count=8"

from omni.cli import absl_flags_parsed  # noqa: E402

absl_flags_parsed()  # grain worker processes read absl flags

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def repo_root():
    import pathlib
    return pathlib.Path(__file__).resolve().parent.parent


HARDWARE_MARKS = ("gpu", "tpu")


def _backend() -> str:
    """jax's backend, without starting one when the environment already pins the CPU (the default here)."""
    if os.environ.get("JAX_PLATFORMS", "").strip() == "cpu":
        return "cpu"
    import jax
    return jax.default_backend()


def pytest_configure(config):
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
