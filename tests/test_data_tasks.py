"""Task formatting: sequence layout, loss placement, spans, families, truncation, bad data."""
import numpy as np
import pytest

from omni import modality as mod
from omni.config import load_config
from omni.data import tasks
from omni.data.tasks import Formatter, Skip, Span, TaskConfig

VOCAB = load_config("tiny").vocab.build()
FIXED = {"image": 16, "video": 12}


def _example(text=5, image=True, audio_frames=0, video=False, k=2):
    ex = {"id": "x", "source": "test"}
    if text:
        ex["text"] = np.arange(1, text + 1, dtype=np.int32)
    if image:
        ex["image"] = (np.arange(16) % 64).astype(np.int32)
    if audio_frames:
        ex["audio"] = np.stack([lv * 32 + np.arange(audio_frames) % 32 for lv in range(k)]).astype(np.int32)
    if video:
        ex["video"] = np.arange(12, dtype=np.int32)
    return ex


def _formatter(**kw):
    base = dict(max_tokens=128)
    base.update(kw)
    return Formatter(VOCAB, TaskConfig(**base), FIXED)


def _check_contract(a):
    """Invariants every formatted example must satisfy."""
    n = len(a["inputs"])
    np.testing.assert_array_equal(a["targets"][:-1], a["inputs"][1:])
    assert a["targets"][-1] == VOCAB.pad_id and a["loss_mask"][-1] == 0
    np.testing.assert_array_equal(a["input_modality"], VOCAB.modality_of(a["inputs"]))
    np.testing.assert_array_equal(a["target_modality"], VOCAB.modality_of(a["targets"]))
    for i in range(n):  # a target's id lies in its target modality's head
        lo, hi = VOCAB.range(mod.modality_name(int(a["target_modality"][i])))
        assert lo <= a["targets"][i] < hi
    assert set(np.unique(a["loss_mask"])) <= {0.0, 1.0}


def test_caption_layout_and_loss():
    spans = [Span("image", VOCAB.to_global("image", np.arange(16)), False, True),
             Span("text", VOCAB.to_global("text", [7, 8, 9]), True, False)]
    a = tasks.assemble(VOCAB, "<task:caption>", spans)
    _check_contract(a)
    expect = ([VOCAB.task_id("<task:caption>"), VOCAB.begin_id("image")] + list(VOCAB.to_global("image", np.arange(16)))
              + [VOCAB.end_id("image"), VOCAB.bos_id] + list(VOCAB.to_global("text", [7, 8, 9])) + [VOCAB.eos_id])
    np.testing.assert_array_equal(a["inputs"], expect)
    # loss exactly on predicting the 3 caption tokens and <eos>; not on <bos> (inserted) nor the image
    trained = a["targets"][a["loss_mask"] == 1]
    np.testing.assert_array_equal(trained, list(VOCAB.to_global("text", [7, 8, 9])) + [VOCAB.eos_id])
    # the image codes and its end token share one span; markers and the caption are causal
    np.testing.assert_array_equal(a["span_ids"][2:19], np.ones(17))
    assert a["span_ids"][[0, 1]].sum() == 0 and a["span_ids"][19:].sum() == 0


def test_image_target_end_token_is_structural_audio_end_is_trained():
    img = tasks.assemble(VOCAB, "<task:generate>",
                         [Span("text", VOCAB.to_global("text", [3]), False, False),
                          Span("image", VOCAB.to_global("image", np.arange(16)), True, False)])
    _check_contract(img)
    assert VOCAB.end_id("image") not in img["targets"][img["loss_mask"] == 1]
    assert img["loss_mask"].sum() == 16
    assert img["span_ids"].sum() == 0  # targets are generated causally
    aud = tasks.assemble(VOCAB, "<task:speak>", [Span("text", VOCAB.to_global("text", [3]), False, False),
                                                 Span("audio", VOCAB.to_global("audio", np.arange(6)), True, False)])
    _check_contract(aud)
    assert VOCAB.end_id("audio") in aud["targets"][aud["loss_mask"] == 1]
    assert aud["loss_mask"].sum() == 7


def test_loss_everywhere_trains_conditioning_but_never_a_visible_target():
    spans = [Span("text", VOCAB.to_global("text", [4, 5]), False, False),
             Span("image", VOCAB.to_global("image", np.arange(16)), False, True),
             Span("text", VOCAB.to_global("text", [7]), True, False)]
    a = tasks.assemble(VOCAB, "<task:describe>", spans, loss_on_targets_only=False)
    _check_contract(a)
    span = a["span_ids"]
    # a position inside a bidirectional span already sees the next token of the span: never trained
    leaks = (span[:-1] != 0) & (span[:-1] == span[1:])
    assert leaks.sum() == 16 and (a["loss_mask"][:-1][leaks] == 0).all()
    # conditioning text is trained; the first image code (predicted causally by <begin_image>) too
    trained = set(a["targets"][a["loss_mask"] == 1].tolist())
    assert {*VOCAB.to_global("text", [4, 5]).tolist(), int(VOCAB.to_global("image", [0])[0])} <= trained
    assert VOCAB.begin_id("image") not in trained and VOCAB.bos_id not in trained


def test_audio_layout_round_trip():
    lf = np.array([[0, 1, 2], [256, 257, 258]])
    seq = tasks.audio_to_sequence(lf, 2)
    np.testing.assert_array_equal(seq, [0, 256, 1, 257, 2, 258])
    np.testing.assert_array_equal(tasks.audio_from_sequence(seq, 2), lf)
    np.testing.assert_array_equal(tasks.audio_from_sequence(seq[:5], 2), lf[:, :2])  # partial frame dropped
    with pytest.raises(ValueError, match="levels >= 3"):
        tasks.audio_to_sequence(lf, 3)


def test_any_to_any_covers_every_pair_and_task_tokens():
    f = _formatter(mixture=(("any_to_any", 1.0),), max_inputs=1)
    ex = _example(text=4, image=True, audio_frames=5, video=True)
    rng = np.random.default_rng(0)
    pairs, tasks_seen = set(), {}
    for _ in range(300):
        out = f(ex, rng)
        _check_contract(out.arrays)
        assert out.family == "any_to_any"
        mods = [mod.modality_name(int(m)) for m in out.arrays["input_modality"]]
        begins = [i for i, t in enumerate(out.arrays["inputs"]) if t in [VOCAB.begin_id(m) for m in VOCAB.modalities]]
        src, tgt = mods[begins[0] + 1], mods[begins[1] + 1]
        pairs.add((src, tgt))
        tasks_seen[(src, tgt)] = out.task
    assert len(pairs) == 12  # every ordered pair of 4 modalities
    assert tasks_seen[("image", "text")] == "<task:caption>"
    assert tasks_seen[("audio", "text")] == "<task:transcribe>"
    assert tasks_seen[("video", "text")] == "<task:describe>"
    assert tasks_seen[("text", "audio")] == "<task:speak>"
    assert tasks_seen[("text", "image")] == "<task:generate>"


def test_mixture_and_target_weights_are_respected():
    ex = _example(text=4, image=True, audio_frames=4)
    rng = np.random.default_rng(1)
    f = _formatter(mixture=(("any_to_any", 3.0), ("single", 1.0)), target_weights=(("image", 1.0),))
    fams = [f(ex, rng).family for _ in range(400)]
    frac = fams.count("any_to_any") / len(fams)
    assert 0.68 < frac < 0.82  # expected 0.75; binomial sd ~0.022
    for _ in range(50):  # only image is ever a target
        a = f(ex, rng).arrays
        assert set(a["target_modality"][a["loss_mask"] == 1].tolist()) == {mod.IMAGE}
    with pytest.raises(Skip) as e:  # a one-modality example supports no any_to_any task
        _formatter(mixture=(("any_to_any", 1.0),))(_example(text=4, image=False), rng)
    assert e.value.reason == "no_task"
    single = _formatter(mixture=(("single", 1.0),))
    lm = [single(_example(text=4, image=False), rng) for _ in range(5)]
    assert {o.task for o in lm} == {"<task:lm>"}


def test_interleaved_documents_draw_neighbours_within_budget():
    f = _formatter(mixture=(("interleaved", 1.0),), interleaved_max_examples=4, max_tokens=100)
    rng = np.random.default_rng(2)
    neighbours = [_example(text=3, image=True), _example(text=2, image=False, audio_frames=3)]
    lengths = []
    for _ in range(30):
        out = f(_example(text=3, image=True), rng, lambda r: neighbours[int(r.integers(2))])
        _check_contract(out.arrays)
        assert out.task == "<task:interleaved>" and out.length <= 100
        assert out.arrays["span_ids"].sum() == 0
        lengths.append(out.length)
    assert max(lengths) > 40  # neighbours were appended (one example alone is 1 + 5 + 18 = 24 tokens)


def test_truncation_cuts_text_and_audio_frames_never_images():
    f = _formatter(mixture=(("any_to_any", 1.0),), target_weights=(("text", 1.0),), max_tokens=40)
    rng = np.random.default_rng(3)
    out = f(_example(text=60, image=True), rng)
    assert out.truncated and out.length == 40
    _check_contract(out.arrays)
    assert out.arrays["inputs"][-1] == VOCAB.eos_id
    spans = [Span("audio", VOCAB.to_global("audio", np.arange(21)), True, False)]
    assert tasks.truncate(spans, 1 + 2 + 10, audio_quantizers=3) and len(spans[0].codes) == 9  # whole frames
    with pytest.raises(Skip, match="too_long"):  # 16 image codes + markers never fit 10 tokens
        tasks.truncate([Span("image", np.arange(16), True, False)], 10, 2)
    with pytest.raises(Skip, match="too_long"):
        _formatter(max_tokens=20, mixture=(("any_to_any", 1.0),), target_weights=(("image", 1.0),))(
            _example(text=2, image=True), rng)


def test_bad_examples_are_skipped_with_reasons():
    f = _formatter()
    rng = np.random.default_rng(4)
    cases = {
        "empty": {"id": "e", "text": np.zeros(0, np.int32)},
        "out_of_range": dict(_example(), image=np.full(16, 64, np.int32)),
        "bad_shape": dict(_example(), image=np.arange(15, dtype=np.int32)),
    }
    for reason, ex in cases.items():
        with pytest.raises(Skip) as e:
            f(ex, rng)
        assert e.value.reason == reason
    with pytest.raises(Skip) as e:
        f(dict(_example(), text=np.array([-1], np.int32)), rng)
    assert e.value.reason == "out_of_range"
    with pytest.raises(Skip) as e:  # audio with fewer levels than the sequences use
        f(_example(audio_frames=4, k=1), rng)
    assert e.value.reason == "bad_shape"


def test_prompt_matches_training_prefix():
    img = np.arange(16)
    p = tasks.prompt(VOCAB, "<task:caption>", [("image", img)], "text")
    a = tasks.assemble(VOCAB, "<task:caption>", [Span("image", VOCAB.to_global("image", img), False, True),
                                                 Span("text", VOCAB.to_global("text", [5]), True, False)])
    n = len(p["inputs"])
    for k in ("inputs", "input_modality", "span_ids"):
        np.testing.assert_array_equal(p[k], a[k][:n])
    assert p["inputs"][-1] == VOCAB.bos_id


def test_formatter_needs_task_tokens():
    from omni.vocab import UnifiedVocab
    with pytest.raises(ValueError, match="task tokens"):
        Formatter(UnifiedVocab.create({"text": 10, "image": 4}), TaskConfig(max_tokens=64))


def test_pad_examples_layout():
    ex = {"inputs": np.array([5, 6, 7]), "targets": np.array([6, 7, 0]), "input_modality": np.zeros(3),
          "target_modality": np.zeros(3), "span_ids": np.zeros(3), "loss_mask": np.array([0.0, 1.0, 0.0])}
    b = tasks.pad_examples([ex], rows=2, seq_len=4)
    assert b["inputs"].tolist() == [[5, 6, 7, 0], [0, 0, 0, 0]]
    assert b["segment_ids"].tolist() == [[1, 1, 1, 0], [0, 0, 0, 0]]
    assert b["positions"][0].tolist() == [0, 1, 2, 0]
    assert b["loss_mask"].sum() == 1.0
    with pytest.raises(ValueError, match="does not fit"):
        tasks.pad_examples([ex], rows=1, seq_len=2)
