"""The MoT-vs-dense study: reach-fraction arithmetic on known curves, and a tiny end-to-end run."""
import json

import pytest

from omni.config import load_config
from omni.study import compare, first_reach, run_study


def _records(evals, step_time):
    recs = [{"kind": "train", "step": s, "step_time_s": step_time, **({"includes_compile": True} if s == 10 else {})}
            for s in range(10, 101, 10)]
    recs += [{"kind": "eval", "step": s, "eval/loss": v, "eval/loss/text": v, "eval/loss/image": v + 1}
             for s, v in evals]
    return recs


def test_first_reach_interpolates_and_reports_never():
    curve = [(10, 5.0), (20, 4.0), (30, 3.0)]
    assert first_reach(curve, 4.0) == 20.0
    assert first_reach(curve, 3.5) == pytest.approx(25.0)
    assert first_reach(curve, 2.0) is None


def test_compare_steps_and_time_fractions():
    dense = _records([(50, 4.0), (100, 3.0)], step_time=1.0)
    mot = _records([(50, 3.0), (100, 2.0)], step_time=1.2)  # reaches 3.0 at step 50, 20% slower steps
    r = compare(dense, mot)
    assert r["text"]["steps_fraction"] == pytest.approx(0.5)
    assert r["text"]["time_fraction"] == pytest.approx(0.6)
    assert r["image"]["dense_final_loss"] == 4.0 and r["image"]["mot_final_loss"] == 3.0
    worse = compare(dense, _records([(50, 5.0), (100, 3.5)], step_time=1.0))
    assert worse["all"]["reached"] is False and worse["all"]["steps_fraction"] is None


@pytest.mark.integration
def test_tiny_study_end_to_end(tmp_path):
    cfg = load_config("tiny", ["steps=4", "checkpoint_every=4", "train.eval_every=2", "train.eval_batches=1",
                               "train.seq_len=64", "train.batch_size=8", "train.log_every=2"])
    report = run_study(cfg, str(tmp_path), progress=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "study_mot.png").stat().st_size > 0
    for name in ("text", "image", "audio", "video", "all"):
        assert name in report and set(report[name]) >= {"steps_fraction", "time_fraction", "dense_final_loss",
                                                         "mot_final_loss"}
        assert saved[name]["dense_final_loss"] == pytest.approx(report[name]["dense_final_loss"])
    assert saved["_meta"]["params_total"]["mot"] > saved["_meta"]["params_total"]["dense"]
