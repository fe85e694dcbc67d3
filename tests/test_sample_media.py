"""Media in and out: file round trips, prompt preprocessing, any-to-any through real (tiny, untrained)
tokenizers from a bundle, and the launch/sample.py CLI (PNG / WAV / MP4 / text, clear errors)."""

import jax
import numpy as np
import pytest

import omni
from omni.sampling import bundle, media_io, prompt
from omni.sampling.media_io import MediaError
from omni.sampling.spec import SamplingSpec
from tests.launch_utils import launch_script
from tests.sample_utils import gradient_image, tiny_config, tiny_model, tokenizer_dir, tone


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    cfg = tiny_config()
    from flax import nnx
    params = nnx.to_pure_dict(nnx.state(tiny_model(cfg, seed=3), nnx.Param))
    return bundle.export(tmp_path_factory.mktemp("b") / "tiny", config=cfg, params=params, step=7,
                         tokenizer_dir=tokenizer_dir())


@pytest.fixture(scope="module")
def lm(bundle_dir):
    return omni.load(bundle_dir, devices=jax.devices()[:1])


def test_media_files_round_trip(tmp_path):
    img = gradient_image(24)
    media_io.write_image(tmp_path / "a.png", img)
    np.testing.assert_array_equal(media_io.to_uint8(media_io.read_image(tmp_path / "a.png")), media_io.to_uint8(img))
    wave = tone(0.25)
    media_io.write_audio(tmp_path / "a.wav", wave, 16000)
    back, sr = media_io.read_audio(tmp_path / "a.wav")
    assert sr == 16000 and back.shape == wave.shape
    np.testing.assert_allclose(back, wave, atol=1.0 / 32767)            # 16-bit PCM
    clip = np.stack([gradient_image(16) * (0.5 + 0.5 * t / 8) for t in range(9)])
    media_io.write_video(tmp_path / "a.mp4", clip, fps=8)
    mp4 = media_io.read_video(tmp_path / "a.mp4")
    assert mp4.shape == clip.shape and np.abs(mp4 - clip).mean() < 0.02  # H.264 4:4:4, crf 12
    flat = np.zeros((3, 8, 8, 3), np.float32)
    flat[1, :, :, 0], flat[2, :, :, 2] = 1.0, 1.0
    media_io.write_video(tmp_path / "a.gif", flat)
    np.testing.assert_array_equal(media_io.read_video(tmp_path / "a.gif"), flat)  # <= 256 colours: exact


def test_unreadable_media_are_clear_errors(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        media_io.read_image(tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(MediaError, match="cannot read .*bad.png as an image"):
        media_io.read_image(tmp_path / "bad.png")
    (tmp_path / "bad.wav").write_bytes(b"RIFF????")
    with pytest.raises(MediaError, match="as audio"):
        media_io.read_audio(tmp_path / "bad.wav")
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(MediaError, match="as a video"):
        media_io.read_video(tmp_path / "bad.mp4")
    with pytest.raises(MediaError, match="must end in one of"):
        media_io.check_output_path(tmp_path / "x.wav", "image")


def test_prompt_preprocessing_matches_trained_layout():
    spec = SamplingSpec(image_size=16, video_frames=9, video_size=8)
    img = prompt.prepare_image(gradient_image(24), spec)
    assert img.shape == (16, 16, 3) and 0 <= img.min() and img.max() <= 1
    np.testing.assert_allclose(prompt.prepare_image((gradient_image(24) * 255).astype(np.uint8), spec), img,
                               atol=1 / 255)
    assert prompt.prepare_video(np.random.default_rng(0).random((5, 20, 30, 3)), spec).shape == (9, 8, 8, 3)
    stereo = np.stack([tone(0.5, 22050), tone(0.5, 22050)], -1)
    wave = prompt.prepare_audio(prompt.Audio(stereo, 22050), spec)
    assert wave.ndim == 1 and abs(len(wave) - 8000) < 1700 and abs(np.abs(wave).max() - 0.9) < 1e-3
    with pytest.raises(ValueError, match="not silent"):
        prompt.prepare_audio(prompt.Audio(np.zeros(8000, np.float32), 16000), spec)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        prompt.prepare_image(gradient_image(24) * 2, spec)
    with pytest.raises(ValueError, match="image \\[H, W, 3\\] or a video"):
        prompt.classify(np.zeros((4, 4)))


def test_any_to_any_through_bundled_tokenizers(lm):
    assert lm.spec.image_size == 16 and lm.spec.video_size == 8 and lm.spec.audio_frame_rate == 50
    s = omni.sample(lm, "a red goat.", to="image", seed=1)
    assert s.media.shape == (16, 16, 3) and s.media.dtype == np.float32 and 0 <= s.media.min() <= s.media.max() <= 1
    assert s.tokens.shape == (16,) and s.tokens.max() < 16
    t = omni.sample(lm, [s.media], to="text", max_new_tokens=16, seed=2)
    assert isinstance(t.media, str) and t.tokens.size <= 16
    a = omni.sample(lm, ["a goat.", prompt.Audio(tone(0.3), 16000)], to="audio", max_seconds=0.2, seed=3)
    frames = a.tokens.shape[1]
    assert a.tokens.shape[0] == 2 and frames <= 10 and a["audio"].sample_rate == 16000
    assert a.media.shape == (frames * 320,)
    assert (a.tokens[0] < 32).all() and (a.tokens[1] >= 32).all()         # level-offset codes per level
    v = omni.sample(lm, ["a goat."], to="video", temperature=0.0)
    assert v.media.shape == (9, 8, 8, 3) and v.tokens.shape == (12,)


def _cli():
    return launch_script("sample")


def test_cli_writes_media_and_prints_text(bundle_dir, tmp_path, capsys):
    cli = _cli()
    png, wav = tmp_path / "goat.png", tmp_path / "goat.wav"
    rc = cli.main(["--bundle", str(bundle_dir), "--devices", "1", "--text", "A goat.", "--to", "image", "--to",
                   "audio", "--out", str(png), "--out", str(wav), "--max-seconds", "0.2", "--seed", "4"])
    assert rc == 0
    assert media_io.read_image(png).shape == (16, 16, 3)
    w, sr = media_io.read_audio(wav)
    assert sr == 16000 and len(w) % 320 == 0
    rc = cli.main(["--bundle", str(bundle_dir), "--devices", "1", "--image", str(png), "--to", "text",
                   "--max-new-tokens", "16", "--print-tokens"])
    assert rc == 0 and "text tokens: [" in capsys.readouterr().out
    rc = cli.main(["--bundle", str(bundle_dir), "--devices", "1", "--text", "A goat.", "--to", "image", "--out",
                   str(png), "--candidates", "3", "--rerank", "bidirectional", "--guidance", "2"])
    assert rc == 0 and media_io.read_image(png).shape == (16, 16, 3)
    with pytest.raises(SystemExit):
        cli.parse(["--bundle", str(bundle_dir), "--text", "x", "--to", "image", "--candidates", "0"])
    assert "--candidates must be >= 1" in capsys.readouterr().err
    bad_out = ["--bundle", str(bundle_dir), "--text", "x", "--to", "image", "--out", str(tmp_path / "x.wav")]
    assert cli.main(bad_out) == 2
    assert "must end in one of" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"junk")
    assert cli.main(["--bundle", str(bundle_dir), "--image", str(tmp_path / "bad.png"), "--to", "text"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["--bundle", str(tmp_path), "--text", "x", "--to", "text"]) == 2
    assert "not an omni bundle" in capsys.readouterr().err
