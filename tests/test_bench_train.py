"""`bench.py train`: the machine matmul yardstick and the step's utilisation against it."""
import jax
import pytest

from omni.bench.train import run
from omni.train.metrics import machine_matmul_flops


def test_machine_matmul_flops_is_2n3_per_device_over_the_median_time():
    r = machine_matmul_flops(target_s=0.005, repeats=3, max_n=512)
    assert 256 <= r["machine_matmul_n"] <= 512 and r["machine_matmul_s"] > 0
    devices = len(jax.local_devices())  # all run at once (the tests' CPU is split into several devices)
    assert r["machine_matmul_flops"] == pytest.approx(2 * r["machine_matmul_n"] ** 3 * devices / r["machine_matmul_s"])


@pytest.mark.integration
def test_train_bench_reports_mfu_against_the_machine():
    out = run(["--config", "tiny", "--steps", "1", "--warmup", "0"])
    assert out["machine_matmul_flops"] == pytest.approx(
        (out["machine_matmul_flops_before"] + out["machine_matmul_flops_after"]) / 2)
    model_flops = out["tokens_per_s"] * out["train_gflops_per_token"] * 1e9
    assert out["mfu_vs_machine"] == pytest.approx(model_flops / out["machine_matmul_flops"])
    assert 0 < out["mfu_vs_machine"] < 2
    assert "machine_matmul_flops" not in run(["--config", "tiny", "--steps", "1", "--warmup", "0", "--no-machine"])
