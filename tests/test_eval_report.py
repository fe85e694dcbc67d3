"""Report helpers: JSON cleaning, Markdown cells, loss-curve series, and loss-batch padding."""
import json
import math

import numpy as np
import pytest

from omni.eval import figures
from omni.eval.report import cell, clean
from omni.train.metrics import read_metrics
from tests.launch_utils import launch_script


def test_clean_makes_strict_json():
    d = clean({"a": np.float32(1.5), "b": math.inf, "c": [np.int64(3), float("nan")], "d": np.bool_(True)})
    assert d == {"a": 1.5, "b": None, "c": [3, None], "d": True}
    json.dumps(d, allow_nan=False)


def test_cell_escapes_markdown_and_control_characters():
    assert cell("a|b <x>\nc") == "a\\|b &lt;x&gt; c"
    assert cell("") == "(empty)"
    assert cell("ok\x00") == "ok\N{REPLACEMENT CHARACTER}"


def test_loss_series_and_curves(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "loss": 2.0, "loss/text": 3.0, "z_loss": 9.0, "lr": 0.1}\nbroken\n'
                 '{"step": 2, "loss": 1.0, "eval/loss/image": 4.0}\n{"no_step": 1}\n')
    recs = read_metrics(p)
    assert len(recs) == 2
    series = figures.loss_series(recs)
    assert series == {"loss": ([1, 2], [2.0, 1.0]), "loss/text": ([1], [3.0]), "eval/loss/image": ([2], [4.0])}
    assert figures.loss_curves(tmp_path / "c.png", recs).is_file()
    assert figures.loss_curves(tmp_path / "none.png", [{"step": 1, "lr": 0.1}]) is None


def _cli():
    return launch_script("eval")


def test_cli_arguments_and_clear_errors(tmp_path, capsys):
    from omni.eval.generate import GenOptions
    cli = _cli()
    a = cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", "--tokens", "t", "--limit", "8"])
    assert (a.limit, a.rounds, a.temperature, str(a.tokens), a.run) == (8, 3, 0.0, "t", None)
    assert a.media_guidance == 5.0  # the evaluation default (docs/eval.md)
    with pytest.raises(SystemExit):
        cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", "--limit", "1"])
    with pytest.raises(SystemExit):
        cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", "--media-guidance", "-1"])
    assert "--media-guidance must be >= 0" in capsys.readouterr().err
    for flag in ("--audio-guidance", "--audio-temperature"):
        with pytest.raises(SystemExit):
            cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", flag, "-1"])
        assert f"{flag} must be >= 0" in capsys.readouterr().err
    a = cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", "--audio-temperature", "0", "--audio-guidance", "1"])
    assert (a.audio_temperature, a.audio_guidance) == (0.0, 1.0)
    a = cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o"])
    assert (a.candidates, a.rerank) == (GenOptions.candidates, GenOptions.rerank)
    a = cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", "--candidates", "audio=4", "--candidates", "image=1",
                   "--rerank", "audio=bidirectional"])
    assert dict(a.candidates) == {"image": 1, "audio": 4}
    assert dict(a.rerank) == {**dict(GenOptions.rerank), "audio": "bidirectional"}
    for bad, says in ((["--candidates", "image=0"], "--candidates image= expects a whole number >= 1"),
                      (["--candidates", "4"], "--candidates takes MODALITY=VALUE"),
                      (["--candidates", "text=4"], "--candidates takes MODALITY=VALUE"),
                      (["--rerank", "image=best"], "--rerank image= expects one of reverse, forward, bidirectional")):
        with pytest.raises(SystemExit):
            cli.parse(["--bundle", "b", "--corpus", "c", "--out", "o", *bad])
        assert says in capsys.readouterr().err
    assert cli.main(["--bundle", str(tmp_path / "none"), "--corpus", "c", "--out", str(tmp_path / "o")]) == 2
    assert "no bundle at" in capsys.readouterr().err


def test_text_outputs_greedy_and_media_outputs_sampled(monkeypatch):
    """Captions/transcripts decode greedily; image/audio/video sample (greedy media collapses to one code)."""
    import omni
    from omni.eval.generate import GenOptions, generate

    calls = []

    class Result:
        outputs = ["out"]

    def fake_sample(lm, prompts, to, **kw):
        calls.append((to, len(prompts), kw))
        return [Result() for _ in prompts]

    monkeypatch.setattr(omni, "sample", fake_sample)
    opts = GenOptions(batch=2)
    assert generate(None, [["a"], ["b"], ["c"]], "text", opts) == ["out"] * 3
    generate(None, [["a"]], "image", opts)
    (t0, n0, k0), (_, _, k1), (to, _, k2) = calls
    assert (t0, n0) == ("text", 2) and k0["temperature"] == 0.0 and "top_p" not in k0
    assert (k0["seed"], k1["seed"]) == (0, 2)
    assert to == "image" and (k2["temperature"], k2["top_p"], k2["guidance"]) == (1.0, 0.9, 5.0)  # guided by default
    assert "guidance" not in k0  # text outputs: greedy, never guided
    generate(None, [["a"]], "video", GenOptions(batch=1, media_guidance=3.0))
    assert calls[-1][2]["guidance"] == 3.0
    # audio outputs take their own temperature and guidance where set, the media ones otherwise
    own = GenOptions(batch=1, media_temperature=1.0, media_guidance=5.0, audio_temperature=0.7, audio_guidance=1.0)
    for to, want in (("audio", (0.7, 0.9, 1.0)), ("image", (1.0, 0.9, 5.0)), ("video", (1.0, 0.9, 5.0))):
        generate(None, [["a"]], to, own)
        assert (calls[-1][2]["temperature"], calls[-1][2]["top_p"], calls[-1][2]["guidance"]) == want, to
    generate(None, [["a"]], "audio", GenOptions(batch=1, media_temperature=0.5, media_guidance=2.0,
                                                audio_temperature=None, audio_guidance=None))
    assert (calls[-1][2]["temperature"], calls[-1][2]["guidance"]) == (0.5, 2.0)
    # candidates and their reranking reach media outputs only (text outputs are greedy: every candidate alike),
    # each modality its own: by default pictures the best of 4 by reverse likelihood, speech and clips one
    assert (calls[-1][2]["candidates"], calls[-1][2]["rerank"]) == (1, "forward")
    assert (k2["candidates"], k2["rerank"]) == (4, "reverse")
    generate(None, [["a"]], "video", GenOptions(batch=1, candidates=(("video", 3),), rerank=(("video", "forward"),)))
    assert (calls[-1][2]["candidates"], calls[-1][2]["rerank"]) == (3, "forward")
    generate(None, [["a"]], "image", GenOptions(batch=1, candidates=(("video", 3),), rerank=()))
    assert (calls[-1][2]["candidates"], calls[-1][2]["rerank"]) == (1, "reverse")
    assert "candidates" not in k0


def test_decoding_line_names_guidance_only_when_used():
    from omni.eval.report import _decoding
    d = {"temperature": 0.0, "media_temperature": 1.0, "media_top_p": 0.9, "seed": 0}
    assert _decoding(d) == "greedy; image, audio and video sampled at temperature 1.0, top-p 0.9; seed 0"
    assert "classifier-free guidance 3.0" in _decoding({**d, "media_guidance": 3.0})
    assert "guidance" not in _decoding({**d, "media_guidance": 1.0})
    both = {**d, "media_guidance": 5.0, "audio_temperature": 0.7, "audio_guidance": 1.0}
    assert _decoding(both) == ("greedy; image and video sampled at temperature 1.0, top-p 0.9, classifier-free "
                               "guidance 5.0; audio sampled at temperature 0.7, top-p 0.9; seed 0")
    assert _decoding({**d, "audio_temperature": 1.0, "audio_guidance": 1.0}) == _decoding(d)
    assert _decoding({**d, "candidates": {"image": 1}, "rerank": {"image": "reverse"}}) == _decoding(d)
    assert _decoding({**d, "candidates": {"image": 4, "audio": 2}, "rerank": {"audio": "forward"}}) == (
        "greedy; image, audio and video sampled at temperature 1.0, top-p 0.9; image the best of 4 per prompt by "
        "reverse likelihood; audio the best of 2 per prompt by forward likelihood (omni.sampling.score); seed 0")
