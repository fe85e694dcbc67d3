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
