"""Tiny tokenizers for tests and smoke runs (seconds on CPU): `get_config(modality)`."""
from omni_tokenizers.trainers import preset


def get_config(modality: str):
    return preset(modality, "tiny")
