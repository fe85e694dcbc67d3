"""evaluate_bundle end to end on a tiny exported bundle, tiny token shards and synthetic held-out examples.

The bundle is untrained, so the figures are not judged; the test checks the report's contract (every
direction beside its baseline and the untrained column, JSON-valid), the exact baselines of the held-out
set, that the untrained column equals the trained one when the bundle holds the untrained weights, and
that the Markdown links point at files that exist.
"""
import json
import pathlib
import re

import numpy as np
import pytest

from omni.data.corpus.schema import make_example
from omni.eval.heldout import select
from tests.sample_utils import tiny_config, tokenizer_dir

pytestmark = [pytest.mark.xdist_group("eval_run"), pytest.mark.integration]

DIRS = ("left", "right", "up", "down")
OBJECTS = ("goat", "frog", "fox", "owl")


def clip(direction: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 120, (32, 32, 3))
    frames = []
    for t in np.linspace(0.2, 0.8, 9):
        a = t if direction in ("right", "down") else 1 - t
        cx, cy = (int(a * 32), 16) if direction in ("left", "right") else (16, int(a * 32))
        f = bg.copy()
        f[cy - 4:cy + 4, cx - 4:cx + 4] = 250
        frames.append(f)
    return np.stack(frames).astype(np.uint8)


def heldout_examples() -> list[dict]:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    out = []
    for i, obj in enumerate(OBJECTS):
        out.append(make_example(id=f"img/{i}", source="tuxpaint", item=f"stamp/{obj}", text=f"A {obj}.",
                                image=rng.integers(0, 255, (64, 64, 3)).astype(np.uint8), label={"object": obj}))
        out.append(make_example(id=f"speech/{i}", source="asterisk", item=f"say/{i}",
                                text="hello there" if i < 3 else "goodbye",
                                audio=(0.4 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32),
                                label={"speech": "recorded"}))
        out.append(make_example(id=f"motion/{i}", source="motion", item=f"clip/{i}", text=f"A {obj} moving {DIRS[i]}.",
                                video=clip(DIRS[i], i), label={"object": obj, "motion": DIRS[i]}))
    out += probe_examples()
    for ex in out:
        ex["label"] = json.dumps(json.loads(ex["label"]))
    return out


NUMBERS = ((7, "seven"), (7, "seven"), (21, "twenty one"), (40, "forty"))  # two voices say seven
COLOURS = ("red", "red", "red", "blue")


def probe_examples() -> list[dict]:
    """Held-out probe examples: 4 spoken numbers (each in both forms) and 4 colour cards."""
    t = np.arange(12000) / 16000
    out = []
    for i, (n, words) in enumerate(NUMBERS):
        audio = (0.3 * np.sin(2 * np.pi * (300 + 40 * i) * t)).astype(np.float32)
        for form in ("words", "numeral"):
            out.append(make_example(id=f"numbers/v{i}/{n}/{form}", source="numbers", item=f"numbers/v{i}@validation",
                                    text=words if form == "words" else str(n), audio=audio,
                                    label={"probe": "numbers", "number": n, "words": words, "voice": f"v{i}",
                                           "form": form, "speech": f"v{i}"}))
    for i, colour in enumerate(COLOURS):
        img = np.full((64, 64, 3), 128, np.uint8)
        img[16:48, 16:48] = {"red": (220, 30, 30), "blue": (30, 30, 220)}[colour]
        out.append(make_example(id=f"colour/{i}", source="colour", item=f"stamp/c{i}", text=f"a {colour} thing {i}",
                                image=img, label={"probe": "colour", "colour": colour, "object": f"thing {i}"}))
    return out


def token_dir(root: pathlib.Path, cfg) -> pathlib.Path:
    from omni.data.token_shards import write_meta, write_shard
    rng = np.random.default_rng(1)
    d = root / "tokens"
    write_meta(d, {"codes": {"text": 300, "image": 16, "audio": 64, "video": 16},
                   "fixed_lengths": {"image": 16, "video": 12}, "audio": {"levels": 2, "codebook_size": 32}})
    exs = [{"id": f"v{i}", "source": "test", "text": rng.integers(0, 300, 8), "image": rng.integers(0, 16, 16),
            "video": rng.integers(0, 16, 12), "audio": np.stack([rng.integers(0, 32, 10), rng.integers(32, 64, 10)])}
           for i in range(3)]
    write_shard(d, "validation", 0, exs, done=True)
    return d


@pytest.fixture(scope="session")  # session: built once per worker even if other modules interleave
def evaluated(tmp_path_factory):
    from flax import nnx

    from omni.eval.generate import GenOptions
    from omni.eval.run import evaluate_bundle
    from omni.model import build_model
    from omni.sampling.bundle import export
    root = tmp_path_factory.mktemp("eval")
    cfg = tiny_config()
    model = build_model(cfg, seed=cfg.seed)  # the untrained weights: the untrained column must match
    bundle = export(root / "bundle", config=cfg, params=nnx.state(model, nnx.Param), step=0,
                    tokenizer_dir=tokenizer_dir())
    run = root / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(json.dumps({"step": s, "loss": 5.0 / s, "loss/text": 6.0 / s})
                                                 for s in range(1, 6)) + "\nnot json\n")
    report = evaluate_bundle(bundle, heldout_examples(), root / "out", token_dir=token_dir(root, cfg), run_dir=run,
                             limit=4, cycle_items=2, rounds=2, options=GenOptions(batch=4, max_text_tokens=6,
                                                                                  max_audio_s=0.2), log=print)
    return report, root / "out"


def test_report_contract(evaluated):
    report, out = evaluated
    on_disk = json.loads((out / "report.json").read_text())
    assert set(on_disk["directions"]) == {"image->text", "text->image", "audio->text", "text->audio",
                                          "video->text", "video->text/object", "text->video"}
    for d, e in on_disk["directions"].items():
        assert {"metric", "value", "baseline", "untrained", "higher_is_better"} <= set(e), d
        assert e["value"] is not None and e["baseline"] is not None
    # baselines of this held-out set, by hand: 4 distinct items -> retrieval chance 1/4; one direction
    # each -> majority direction 1/4; transcripts 3x "hello there" + "goodbye" (7 words): always
    # "hello there" costs 2 edits on "goodbye" -> WER 2/7
    assert on_disk["directions"]["text->image"]["baseline"] == pytest.approx(0.25, abs=1e-12)
    assert on_disk["directions"]["video->text"]["baseline"] == pytest.approx(0.25, abs=1e-12)
    assert on_disk["directions"]["audio->text"]["baseline"] == pytest.approx(2 / 7, abs=1e-12)
    # the frame-based measure reads every real clip's direction correctly
    assert on_disk["directions"]["text->video"]["reference"] == pytest.approx(1.0, abs=1e-12)
    # text->audio is judged by PocketSphinx, its reference PocketSphinx on the real held-out speech
    assert "PocketSphinx" in on_disk["directions"]["text->audio"]["metric"]
    assert "PocketSphinx" in on_disk["directions"]["text->audio"]["reference_kind"]
    assert set(on_disk["cycle"]) == {"text->image->text", "text->audio->text"}
    assert all(len(c["value"]) == 2 for c in on_disk["cycle"].values())
    # floors over distinct texts: "A goat." vs "A frog." share "a" (F1 1/2); "hello there" vs "goodbye" 0
    assert on_disk["cycle"]["text->image->text"]["baseline"] == pytest.approx(0.5, abs=1e-12)
    assert on_disk["cycle"]["text->audio->text"]["baseline"] == pytest.approx(0.0, abs=1e-12)
    assert set(on_disk["loss"]) == {f"{a}->{b}" for a in ("text", "image", "audio", "video")
                                    for b in ("text", "image", "audio", "video") if a != b}


def test_probes_contract(evaluated):
    _, out = evaluated
    probes = json.loads((out / "report.json").read_text())["probes"]
    assert set(probes) == {"numbers audio->text", "numbers text->audio", "motion video->text", "motion text->video",
                           "colour image->text", "colour text->image"}
    for p, e in probes.items():
        assert {"metric", "value", "baseline", "untrained", "ceiling", "higher_is_better", "judge", "n"} <= set(e), p
        assert e["n"] == 4 and "model" not in e["judge"].lower(), p
        assert all(isinstance(e[k], float) for k in ("value", "baseline", "untrained", "ceiling")), p
        lo, hi = e["ci95"]  # the bootstrap interval of the trained value brackets it
        assert 0 <= lo <= e["value"] <= hi and "bootstrap" in e["ci95_kind"], p
    # majority answers by hand: "seven" twice of seven, seven, twenty one, forty (5 reference words): saying
    # "seven" costs 2 edits on "twenty one" and 1 on "forty" -> WER 3/5; colours 3 red of 4; directions 1 of 4
    assert probes["numbers audio->text"]["baseline"] == pytest.approx(3 / 5, abs=1e-12)
    assert probes["numbers text->audio"]["baseline"] == pytest.approx(3 / 5, abs=1e-12)
    assert probes["colour image->text"]["baseline"] == pytest.approx(0.75, abs=1e-12)
    assert probes["motion text->video"]["baseline"] == pytest.approx(0.25, abs=1e-12)
    # ceilings: the label is the judge's answer (1.0); the colour measured on the real cards; frame motion
    assert probes["colour image->text"]["ceiling"] == probes["motion video->text"]["ceiling"] == 1.0
    assert probes["colour text->image"]["ceiling"] == pytest.approx(1.0, abs=1e-12)
    assert probes["motion text->video"]["ceiling"] == pytest.approx(1.0, abs=1e-12)
    assert "PocketSphinx" in probes["numbers text->audio"]["judge"]
    for fam in ("numbers", "motion", "colour"):  # one judge on the tokenizer's round trips per family
        pair = [e for p, e in probes.items() if p.startswith(fam)]
        assert isinstance(pair[0]["tokenizer_ceiling"], float) and "reconstruction" in pair[0]["tokenizer_ceiling_kind"]
        assert pair[0]["tokenizer_ceiling"] == pair[1]["tokenizer_ceiling"], fam
    md = (out / "report.md").read_text()
    e = probes["colour image->text"]
    assert f"**{e['value']:.3f}** [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]" in md
    assert "## Capability probes" in md and "probes/numbers_text_to_audio/00_trained.wav" in md
    assert "probes/colour_text_to_image.png" in md and "probes/motion_text_to_video_0.gif" in md


class _Exact:
    """A tokenizer whose round trip gives back exactly what it was given."""

    def encode(self, x, **_):
        return x

    def decode(self, ids, **_):
        return ids

    def decode_like(self, ids, shape):
        return ids


def test_tokenizer_ceiling_through_an_exact_round_trip_is_the_judge_on_the_real_media(evaluated):
    import omni
    from omni.eval import probes as prb
    from omni.eval.heldout import select
    _, out = evaluated
    lm = omni.load(out.parent / "bundle")
    lm.tokenizers.update({m: _Exact() for m in ("image", "video", "audio")})
    sets = select(heldout_examples(), 4)
    for p in ("numbers text->audio", "motion text->video", "colour text->image"):
        exs = getattr(sets, prb.spec(p)["heldout"])
        assert prb.tokenizer_ceiling(p, exs, lm)[0] == pytest.approx(prb.ceiling(p, exs)[0], abs=1e-12), p


def test_untrained_column_matches_untrained_bundle(evaluated):
    # the bundle holds exactly the freshly initialised weights, so both columns must agree exactly
    report, _ = evaluated
    for d, e in report["directions"].items():
        assert e["value"] == pytest.approx(e["untrained"], abs=1e-9), d
    for d, e in report["loss"].items():
        assert e["loss"] == pytest.approx(e["untrained_loss"], rel=1e-5), d
        # trained target tokens of 3 shard examples: text 8 codes + eos, image 16, video 12 (end inserted,
        # not trained), audio 10 frames x 2 levels + end
        assert e["tokens"] == 3 * {"text": 9, "image": 16, "video": 12, "audio": 21}[d.split("->")[1]], d
    for p, e in report["probes"].items():
        assert e["value"] == pytest.approx(e["untrained"], abs=1e-9), p


def test_markdown_links_exist(evaluated):
    _, out = evaluated
    md = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert any(link.endswith("loss_curves.png") for link in links)
    assert any(link.endswith(".wav") for link in links)
    for link in links:
        assert (out / link).is_file(), link


def test_select_one_view_per_item():
    exs = heldout_examples()
    exs.append(dict(exs[0], id="img/again"))  # a second view of item stamp/goat
    sets = select(exs, limit=16)
    # probe examples join their probe set only (never the open-domain captioned / speech sets)
    assert sets.counts() == {"captioned": 4, "speech": 4, "motion": 4, "numbers": 4, "colour": 4}
    assert select(exs, limit=2).counts() == {"captioned": 2, "speech": 2, "motion": 2, "numbers": 2, "colour": 2}
    # one view per utterance, the words and numeral forms in turn
    assert [e["text"] for e in sets.numbers] == ["seven", "7", "twenty one", "40"]
    both = dict(exs[0], id="both", item="photo/x", audio=np.full(800, 0.1, np.float32), has_audio=True,
                label=json.dumps({"object": "x", "speech": "kal"}))
    sets = select([both], limit=4)  # a photo with its spoken caption serves both sets
    assert sets.counts() == {"captioned": 1, "speech": 1, "motion": 0, "numbers": 0, "colour": 0}
    assert select([dict(both, text=" ")], limit=4).counts() == {"captioned": 0, "speech": 0, "motion": 0,
                                                                 "numbers": 0, "colour": 0}


def test_probe_figures_equal_the_reports_probes(evaluated):
    # the study's probe pass (omni.study.probe_pair) reports what evaluate_bundle reports for the same bundle
    from omni.eval.generate import GenOptions
    from omni.eval.run import probe_figures
    report, out = evaluated
    got = probe_figures(out.parent / "bundle", heldout_examples(), limit=4,
                        options=GenOptions(batch=4, max_text_tokens=6, max_audio_s=0.2))
    assert set(got) == set(report["probes"])
    for p, e in got.items():
        want = report["probes"][p]
        scores = np.asarray(e.pop("scores"))   # per example [numerator, denominator]: they pool to the value
        assert scores.shape == (e["n"], 2) and scores[:, 0].sum() / scores[:, 1].sum() == pytest.approx(e["value"])
        assert {k: e[k] for k in e} == {k: want[k] for k in e}, p
