"""`LoadedModel`: a ready model + vocabulary + tokenizers + sampling spec (what `omni.load` returns)."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from omni.sampling.spec import SamplingSpec, infer_spec


@dataclasses.dataclass
class LoadedModel:
    """Everything `omni.sample` needs; build one from a bundle (`omni.load`) or a live model (`from_model`)."""

    model: Any                       # omni.model.OmniModel
    config: Any                      # omni.config.Config
    spec: SamplingSpec
    tokenizers: dict[str, Any] = dataclasses.field(default_factory=dict)
    mesh: Any = None                 # jax.sharding.Mesh when the params are sharded over several devices
    manifest: dict | None = None     # the bundle's manifest (None for a live model)
    _decoder: Any = dataclasses.field(default=None, repr=False)

    @functools.cached_property
    def vocab(self):
        return self.config.vocab.build()

    @property
    def step(self) -> int | None:
        return None if self.manifest is None else self.manifest.get("step")

    def decoder(self):
        """The jitted decoder of this model (built once, so compiled programs are reused across calls)."""
        if self._decoder is None:
            from omni.sampling.decode_loop import Decoder  # on use: JAX; bundles load without it
            self._decoder = Decoder(self.model)
        return self._decoder

    @classmethod
    def from_model(cls, model, config, tokenizers: dict | None = None, spec: SamplingSpec | None = None
                   ) -> LoadedModel:
        """Wraps a live model (e.g. right after training); the spec is inferred from config + tokenizers."""
        tokenizers = dict(tokenizers or {})
        return cls(model, config, spec or infer_spec(config, tokenizers), tokenizers)
