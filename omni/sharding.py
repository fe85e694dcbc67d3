"""Logical axis names -> mesh axes: building the mesh, parameter specs and shardings from rules."""
from __future__ import annotations

import contextlib
import contextvars
import math

import jax
import numpy as np
from flax import nnx
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from omni.config import MESH_AXES, ConfigError, MeshConfig


def mesh_shape(cfg: MeshConfig, num_devices: int) -> tuple[int, int, int]:
    """Resolves the one -1 axis so the product equals `num_devices`; a ConfigError naming the keys otherwise."""
    sizes = [cfg.data, cfg.fsdp, cfg.tensor]
    given = " x ".join(f"mesh.{a}={s}" for a, s in zip(MESH_AXES, sizes))
    fixed = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % fixed:
            raise ConfigError(f"{given} cannot fill {num_devices} devices: {num_devices} is not a multiple of "
                              f"{fixed}")
        sizes[sizes.index(-1)] = num_devices // fixed
    if math.prod(sizes) != num_devices:
        raise ConfigError(f"{given} needs {math.prod(sizes)} devices but {num_devices} are in use; make the "
                          f"product {num_devices} or set one axis to -1 (fill)")
    return tuple(sizes)


def make_mesh(cfg: MeshConfig, devices=None) -> Mesh:
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(device_array(mesh_shape(cfg, len(devices)), devices), MESH_AXES)


def device_array(shape: tuple[int, ...], devices: list) -> np.ndarray:
    """Devices arranged as `shape`. TPU: laid out on the physical torus (mesh_utils), and with several slices
    the outermost axis that divides by the slice count spans the slices over the data-centre network, so
    only that axis's collectives cross it. Elsewhere: in device order."""
    if devices[0].platform != "tpu":
        return np.asarray(devices).reshape(shape)
    slices = len({getattr(d, "slice_index", 0) for d in devices})
    if slices == 1:
        return mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
    outer = next((i for i, s in enumerate(shape) if s % slices == 0), None)
    if outer is None:
        raise ValueError(f"no mesh axis of {dict(zip(MESH_AXES, shape))} divides by the {slices} slices; make "
                         f"the data axis a multiple of {slices}")
    ici = tuple(s // slices if i == outer else s for i, s in enumerate(shape))
    dcn = tuple(slices if i == outer else 1 for i in range(len(shape)))
    return np.asarray(mesh_utils.create_hybrid_device_mesh(ici, dcn, devices, allow_split_physical_axes=True))


def logical_to_spec(axes, rules, shape=None, mesh: Mesh | None = None) -> PartitionSpec:
    """Maps logical axis names to a PartitionSpec with `rules` ((logical, mesh axes | None), ...).

    A mesh axis is used at most once per array; with `shape` and `mesh` given, an axis whose size is not
    divisible by the mesh axes is left replicated rather than failing.
    """
    table = dict(rules)
    used: set[str] = set()
    out = []
    for i, name in enumerate(axes):
        target = table.get(name) if name is not None else None
        if target is None:
            out.append(None)
            continue
        names = (target,) if isinstance(target, str) else tuple(target)
        names = tuple(n for n in names if n not in used)
        if mesh is not None:
            names = tuple(n for n in names if mesh.shape[n] > 1)
            if shape is not None and names and shape[i] % math.prod(mesh.shape[n] for n in names):
                names = ()
        used.update(names)
        out.append(None if not names else names[0] if len(names) == 1 else names)
    return PartitionSpec(*out)


def state_specs(state, rules, mesh: Mesh | None = None):
    """PartitionSpecs for an nnx.State whose variables carry `axes` metadata (replicated otherwise)."""
    def spec(v):
        axes = getattr(v, "axes", None) if isinstance(v, nnx.Variable) else None
        if axes is None:
            return PartitionSpec()
        return logical_to_spec(axes, rules, v.get_value().shape, mesh)
    return jax.tree.map(spec, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def named_shardings(mesh: Mesh, specs):
    """A tree of PartitionSpecs -> the same tree of NamedShardings on `mesh` (e.g. of `state_specs`)."""
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, PartitionSpec))


def batch_sharding(mesh: Mesh, rules) -> NamedSharding:
    """Sharding of [B, L] batch arrays: batch over the rule's mesh axes, sequence replicated."""
    return NamedSharding(mesh, logical_to_spec(("batch", "seq"), rules, mesh=mesh))


# ---- activation sharding constraints (the trainer sets the mesh and rules; a no-op otherwise) ----------

_ACTIVATION_CTX: contextvars.ContextVar = contextvars.ContextVar("omni_activation_sharding", default=None)


@contextlib.contextmanager
def activation_sharding(mesh: Mesh, rules):
    """While tracing inside this context, `constrain` pins activations to `rules` on `mesh`."""
    token = _ACTIVATION_CTX.set((mesh, tuple(rules)))
    try:
        yield
    finally:
        _ACTIVATION_CTX.reset(token)


def current_activation_sharding():
    """(mesh, rules) while tracing inside `activation_sharding`, else None."""
    return _ACTIVATION_CTX.get()


def context_mesh():
    """The mesh of the computation being traced: the trainer's `activation_sharding` mesh, else the one set by
    `jax.set_mesh(mesh)` (an AbstractMesh inside jit), else a legacy `with mesh:` mesh, else None."""
    ctx = _ACTIVATION_CTX.get()
    if ctx is not None:
        return ctx[0]
    mesh = jax.sharding.get_abstract_mesh()
    if mesh is not None and not mesh.empty:
        return mesh
    try:  # legacy `with mesh:` context; private API, so tolerate its absence in later jax versions
        from jax._src import mesh as mesh_lib
        mesh = mesh_lib.thread_resources.env.physical_mesh
    except (ImportError, AttributeError):
        return None
    return None if mesh.empty else mesh


def target_device(mesh=None):
    """A device (or jax AbstractDevice: `.platform`, `.device_kind`) the traced program is compiled for: of
    `mesh`, else of `context_mesh()`, else the default backend's first device. Ahead-of-time compiles for a
    TPU topology from a CPU host (launch/plan.py) get a TPU device here, so backend choices (kernel
    platform, tile sizes, grouped matmul) follow the target, not the host."""
    mesh = mesh if mesh is not None else context_mesh()
    if isinstance(mesh, Mesh):
        return mesh.devices.flat[0]
    device = getattr(mesh, "abstract_device", None)
    return device if device is not None else jax.devices()[0]


def target_platform(mesh: Mesh | None = None) -> str:
    """'cpu' | 'gpu' | 'tpu' of `target_device(mesh)` (CUDA and ROCm devices both report 'gpu')."""
    platform = target_device(mesh).platform
    return "gpu" if platform in ("cuda", "rocm") else platform


def constrain(x: jax.Array, axes) -> jax.Array:
    """with_sharding_constraint by logical axis names (e.g. ("batch", "seq", None)); identity outside
    `activation_sharding`, so model code runs unchanged on one device."""
    ctx = _ACTIVATION_CTX.get()
    if ctx is None:
        return x
    mesh, rules = ctx
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, logical_to_spec(axes, rules, x.shape, mesh)))
