"""Bad-data checks of the corpus media loaders, the Qt .rcc reader, and the synthetic clip renderers."""
import random

import numpy as np
import pytest
from PIL import Image

from omni.data.corpus.audio import load_audio
from omni.data.corpus.images import load_cutout, load_image
from omni.data.corpus.motion import render_motion
from omni.data.corpus.panzoom import render_move
from omni.data.corpus.rcc import RccError, read_rcc
from omni.data.corpus.skips import Skip, SkipCounter
from omni.data.corpus.spec import MediaSpec
from omni.data.corpus.text import clean_text
from omni.data.corpus.video import conform_clip, read_video
from tests.corpus_fixtures import png, wav, write_rcc

SPEC = MediaSpec()


def reason(fn, *a, **kw) -> str:
    with pytest.raises(Skip) as e:
        fn(*a, **kw)
    return e.value.reason


def test_images():
    assert load_image(png(), SPEC, fit="pad").shape == (64, 64, 3)
    assert reason(load_image, b"\x89PNG\r\n\x1a\nnope", SPEC) == "corrupt_image"
    assert reason(load_image, png()[:150], SPEC) == "corrupt_image"  # truncated
    assert reason(load_image, png(size=(10, 40)), SPEC) == "image_too_small"
    assert reason(load_image, _flat(), SPEC) == "blank_image"
    assert reason(load_image, png(size=(100, 20)), MediaSpec(max_image_side=64)) == "image_too_large"
    cut = load_cutout(png(size=(50, 40)), SPEC)
    assert cut.shape[2] == 4 and cut.shape[0] < 40  # cropped to the visible blob
    assert reason(load_cutout, png(alpha=False), SPEC) == "no_alpha"


def _flat() -> bytes:
    import io
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), (120, 120, 120)).save(buf, format="PNG")
    return buf.getvalue()


def test_audio():
    a = load_audio(wav(1.0, 48000, channels=2), SPEC)
    assert a.dtype == np.float32 and abs(a.size - 16000) < 2000 and np.abs(a).max() <= 0.91
    assert np.array_equal(np.round(a * 32768), a * 32768)  # on the 16-bit grid (stored losslessly as PCM16)
    assert abs(load_audio(wav(1.0, 8000), SPEC).size - 16000) < 2000  # 8 kHz prompts are resampled
    assert reason(load_audio, b"RIFF\x00\x00\x00\x00WAVEjunk", SPEC) == "corrupt_audio"
    assert reason(load_audio, wav(1.0, 4000), SPEC) == "bad_sample_rate"
    assert reason(load_audio, wav(1.0, 16000, amp=0.0), SPEC) == "silent_audio"
    assert reason(load_audio, wav(0.05, 16000), SPEC) == "audio_too_short"
    assert reason(load_audio, wav(5.0, 16000), SPEC) == "audio_too_long"
    assert load_audio(wav(5.0, 16000), SPEC, crop=True).size == 4 * 16000
    import io

    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, np.full(8000, np.nan, np.float32), 16000, format="WAV", subtype="FLOAT")
    assert reason(load_audio, buf.getvalue(), SPEC) == "non_finite_audio"


def test_text():
    assert clean_text(b"  A\tgoat.\x07\n ") == "A goat."
    assert clean_text("e\u0301") == "\u00e9"  # NFC
    assert reason(clean_text, "Une ch\xe8vre".encode("latin-1")) == "non_utf8_text"
    assert reason(clean_text, " \n\t") == "empty_text"
    assert reason(clean_text, "x" * 50, max_chars=10) == "text_too_long"
    counter = SkipCounter()
    counter.add(Skip("empty_text"), "a.txt")
    counter.add(Skip("empty_text"), "b.txt")
    assert counter.as_dict() == {"empty_text": 2} and len(counter) == 2


def test_video_clips(tmp_path):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(9)]
    assert conform_clip(frames, SPEC).shape == (9, 32, 32, 3)
    assert reason(conform_clip, frames[:5], SPEC) == "bad_video_length"
    assert reason(conform_clip, [np.zeros((40, 40, 3), np.uint8)] * 9, SPEC) == "blank_video"
    assert reason(conform_clip, [np.zeros((40, 40), np.uint8)] * 9, SPEC) == "bad_video_frame"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    assert reason(read_video, bad) == "corrupt_video"
    import imageio_ffmpeg
    good = tmp_path / "good.mp4"
    w = imageio_ffmpeg.write_frames(str(good), (64, 48), fps=10, macro_block_size=16)
    w.send(None)
    for f in frames:
        w.send(np.ascontiguousarray(f))
    w.close()
    got, fps = read_video(good)
    assert len(got) == 9 and got[0].shape == (48, 64, 3) and fps == 10


def test_rcc_reader():
    blob = write_rcc({"/a/b/one.txt": b"hello", "/a/two.json": b'{"x": 1}'}, compress=("/a/two.json",))
    assert read_rcc(blob) == {"/a/b/one.txt": b"hello", "/a/two.json": b'{"x": 1}'}
    with pytest.raises(RccError, match="qres"):
        read_rcc(b"PK\x03\x04 a zip file")
    with pytest.raises(RccError):
        read_rcc(blob[:40])


def _centroid(frame: np.ndarray) -> np.ndarray:
    red = (frame[..., 0] > 150) & (frame[..., 1] < 90)
    ys, xs = np.nonzero(red)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("direction,axis,sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
def test_motion_moves_the_object_in_the_named_direction(direction, axis, sign):
    cut = np.zeros((20, 20, 4), np.uint8)
    cut[..., 0], cut[4:16, 4:16, 3] = 230, 255
    rng = np.random.default_rng(0)
    bg = Image.fromarray((rng.integers(0, 60, (80, 80, 3)) + np.array([0, 120, 120])).astype(np.uint8))
    clip = render_motion(cut, bg, direction, SPEC, random.Random(0))
    pos = np.array([_centroid(f) for f in clip])
    steps = np.diff(pos[:, axis]) * sign
    assert clip.shape == (9, 32, 32, 3) and np.all(steps > 0) and abs(pos[-1, 1 - axis] - pos[0, 1 - axis]) < 1
    assert steps.sum() > 10  # travels over a third of the 32-pixel frame


def test_zoom_in_magnifies_the_centre():
    img = np.zeros((256, 256, 3), np.uint8)
    img[96:160, 96:160] = 255  # a white square in the middle
    clip = render_move(Image.fromarray(img), "zoom_in", SPEC)
    white = (clip.mean(-1) > 128).mean((1, 2))
    assert np.all(np.diff(white) >= 0) and white[-1] > 2.5 * white[0]
    with pytest.raises(ValueError, match="move must be one of"):
        render_move(Image.fromarray(img), "spin", SPEC)
