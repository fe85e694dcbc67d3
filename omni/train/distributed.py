"""Multi-process setup from the environment: TPU pods, SLURM GPU clusters, plain multi-process.

`initialize()` must run before anything touches a JAX backend. It calls `jax.distributed.initialize`
when the environment says this is one process of many:
- `OMNI_DISTRIBUTED=1`: always (JAX auto-detects TPU pod slices, SLURM, Open MPI, or reads the JAX_* vars);
  `OMNI_DISTRIBUTED=0`: never.
- otherwise when `JAX_NUM_PROCESSES` > 1 (plain multi-process: also `JAX_COORDINATOR_ADDRESS=host:port`
  and `JAX_PROCESS_ID`), or `SLURM_NTASKS` > 1 inside a SLURM job, or `TPU_WORKER_HOSTNAMES` lists
  more than one host (a multi-host TPU slice).
"""
from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger(__name__)


def wanted(env=None) -> tuple[bool, str]:
    """(should initialize, why) from environment variables alone (no JAX backend is touched)."""
    env = os.environ if env is None else env
    flag = env.get("OMNI_DISTRIBUTED", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False, "OMNI_DISTRIBUTED=0"
    if flag in ("1", "true", "yes", "on"):
        return True, "OMNI_DISTRIBUTED=1"
    if flag:
        raise ValueError(f"OMNI_DISTRIBUTED must be 0 or 1, got {env['OMNI_DISTRIBUTED']!r}")
    if int(env.get("JAX_NUM_PROCESSES", "1") or 1) > 1:
        return True, "JAX_NUM_PROCESSES > 1"
    if "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
        return True, "SLURM job with SLURM_NTASKS > 1"
    hosts = [h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
    if len(hosts) > 1:
        return True, "TPU_WORKER_HOSTNAMES lists several hosts"
    return False, "single process"


def explicit_args(env=None) -> dict:
    """coordinator/num_processes/process_id from JAX_* variables (those JAX does not read itself)."""
    env = os.environ if env is None else env
    args = {}
    if env.get("JAX_COORDINATOR_ADDRESS"):
        args["coordinator_address"] = env["JAX_COORDINATOR_ADDRESS"]
    for var, key in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if env.get(var, "") != "":
            try:
                args[key] = int(env[var])
            except ValueError:
                raise ValueError(f"{var} must be an integer, got {env[var]!r}") from None
    if "num_processes" in args and "process_id" not in args:
        raise ValueError("JAX_NUM_PROCESSES is set but JAX_PROCESS_ID is not (0..N-1 for each process)")
    if "process_id" in args and "coordinator_address" not in args:
        raise ValueError("JAX_PROCESS_ID is set but JAX_COORDINATOR_ADDRESS (host:port of process 0) is not")
    return args


def initialize(env=None) -> bool:
    """Initializes jax.distributed when the environment asks for it; returns whether it did."""
    do, why = wanted(env)
    if not do:
        return False
    if jax.distributed.is_initialized():
        return True
    args = explicit_args(env)
    jax.distributed.initialize(**args)
    log.info("jax.distributed initialized (%s): process %d of %d, %d local / %d global devices", why,
             jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count())
    return True


def is_main() -> bool:
    """Only process 0 writes logs, metrics and config files."""
    return jax.process_index() == 0
