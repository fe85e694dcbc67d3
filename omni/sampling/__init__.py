"""Inference: bundles (`export`, `load`), prompts, the jitted KV-cache decoder and `sample`.

Import the submodules directly (`omni.sampling.bundle`, `omni.sampling.sample`); `omni.load` and
`omni.sample` are the short names. Prompt item types are re-exported here.
"""
from omni.sampling.prompt import Audio, Tokens, Video

__all__ = ["Audio", "Tokens", "Video"]
