"""The MoT-vs-dense study: reach-fraction arithmetic on known curves, and a tiny end-to-end run."""
import json

import pytest

from omni.config import ConfigError, load_config
from omni.model import model_stats
from omni.study import (
    GRID_KEYS,
    SEED_KEYS,
    compare,
    crossover,
    default_steps,
    first_reach,
    grid_plan,
    parse_seeds,
    parse_sizes,
    parse_steps,
    plot_grid,
    run_grid,
    run_seeds,
    seed_rows,
    seeds_table,
    size_config,
    summary_table,
)
from omni.train.metrics import read_metrics


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
    # an overfitting dense run: its final loss is above its best, which the MoT passes at its first evaluation
    late = compare(_records([(50, 3.0), (100, 3.5)], step_time=1.0), mot)
    assert late["text"]["dense_best_loss"] == 3.0 and late["text"]["dense_final_loss"] == 3.5
    assert late["text"]["mot_best_loss"] == 2.0 and late["text"]["steps_fraction"] == pytest.approx(0.5)
    worse = compare(dense, _records([(50, 5.0), (100, 3.5)], step_time=1.0))
    assert worse["all"]["reached"] is False and worse["all"]["steps_fraction"] is None


def test_sizes_hit_their_active_parameter_targets_and_default_steps_give_20_tokens_per_param():
    cfg = load_config("demo")
    for name, target in (("0.1M", 1e5), ("0.5M", 5e5), ("2M", 2e6)):
        c = size_config(cfg, name)
        active = model_stats(c).active_params
        assert abs(active - target) / target < 0.1, (name, active)
        n = default_steps(c)
        tpp = n * c.train.batch_size * c.train.seq_len / active
        assert 20.0 <= tpp < 20.0 + c.train.batch_size * c.train.seq_len / active + 1e-9
    plan = grid_plan(cfg, ["0.1M", "2M"], parse_steps("2M=30", ["0.1M", "2M"]), evals=3)
    assert [e["steps"] for e in plan] == [default_steps(size_config(cfg, "0.1M")), 30]
    assert plan[1]["config"].train.eval_every == 10 and plan[1]["config"].steps == 30


def test_bad_sizes_and_steps_name_what_was_expected():
    with pytest.raises(ConfigError, match="--sizes: expected a comma-separated list of 0.1M, 0.5M, 2M"):
        parse_sizes("0.1M,3M")
    with pytest.raises(ConfigError, match="--steps: expected a positive integer"):
        parse_steps("2M=x", ["2M"])
    with pytest.raises(ConfigError, match="--steps: expected positive step counts"):
        parse_steps("0", ["2M"])
    assert parse_steps("7", ["0.1M", "2M"]) == {"0.1M": 7, "2M": 7}


def test_grid_plot_shows_held_out_losses_only(tmp_path):
    cfg = load_config("tiny")
    plan = grid_plan(cfg, ["0.1M"], {"0.1M": 100}, evals=2)
    dense = _records([(50, 4.0), (100, 3.0)], step_time=1.0)
    mot = _records([(50, 3.0), (100, 2.0)], step_time=1.0)
    for r in dense + mot:  # counts beside the losses must stay off the loss axis
        if r["kind"] == "eval":
            r.update({"eval/tokens": 123456.0, "eval/tokens/text": 9999.0})
        r["loss_tokens"] = 4096.0
    series = plot_grid([(plan[0], {"dense": dense, "mot": mot})], tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
    per_step = cfg.train.batch_size * cfg.train.seq_len / plan[0]["active_params"]
    assert series[("text", "0.1M dense")] == ([50 * per_step, 100 * per_step], [4.0, 3.0])
    assert series[("image", "0.1M MoT")][1] == [4.0, 3.0]
    assert {k[0] for k in series} == {"text", "image", "all"}
    assert max(max(y) for _, y in series.values()) <= 5.0


def test_crossover_words():
    def rows(fracs):
        return [{"size": s, "active_params": p, "modality": "text", "steps_fraction": f}
                for s, p, f in zip(("a", "b", "c"), (1, 2, 3), fracs)]
    assert crossover(rows([None, 0.9, 0.7]))["text"] == "crossover between a and b"
    assert crossover(rows([None, None, 1.0]))["text"].startswith("MoT never ahead")
    assert crossover(rows([0.5, 0.6, 0.7]))["text"].startswith("MoT ahead at every size")


@pytest.mark.integration
def test_tiny_grid_end_to_end(tmp_path, monkeypatch):
    import omni
    import omni.study

    seen = []

    def judge(bundle, corpus, limit, options=None):  # stands in for the probes (tiny runs: no corpus, tokenizers)
        lm = omni.load(bundle)
        seen.append((str(bundle), lm.step, lm.config.model.untie_ffn, limit))
        value = 0.5 if lm.config.model.untie_ffn else 0.25
        return {"motion video->text": {"metric": "accuracy", "value": value, "ci95": [0.0, 1.0], "baseline": 0.3,
                                       "higher_is_better": True, "judge": "frame motion", "n": limit}}
    monkeypatch.setattr(omni.study, "probe_figures", judge)
    cfg = load_config("tiny", ["train.seq_len=64", "train.batch_size=8", "train.eval_batches=1"])
    report = run_grid(cfg, str(tmp_path), ["0.1M", "0.5M"], {"0.1M": 4, "0.5M": 4}, evals=2, probes=3,
                      progress=False)
    # the probes judge each run's final checkpoint, exported into its run dir; kept per size and reused
    assert sorted(seen) == sorted((str(tmp_path / s / v / "bundle"), 4, v == "mot", 3)
                                  for s in ("0.1M", "0.5M") for v in ("dense", "mot"))
    assert [(r["size"], r["probe"], r["dense"], r["mot"], r["baseline"], r["n"]) for r in report["probes"]] == [
        ("0.1M", "motion video->text", 0.25, 0.5, 0.3, 3), ("0.5M", "motion video->text", 0.25, 0.5, 0.3, 3)]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "study_mot.png").stat().st_size > 0
    assert (tmp_path / "0.5M" / "report.json").exists() and (tmp_path / "0.1M" / "study_mot.png").exists()
    rows = saved["grid"]
    assert {r["size"] for r in rows} == {"0.1M", "0.5M"}
    assert {r["modality"] for r in rows} == {"text", "image", "audio", "video", "all"}
    for r in rows:
        assert set(r) == set(GRID_KEYS)
        # steps: the MoT's reach step can be no later than dense's last; time is wall clock (MoT may be slower
        # per step), so it is checked against the step times the two runs recorded, never against a bound
        assert r["steps_fraction"] is None or 0 < r["steps_fraction"] <= 1
        recs = {v: read_metrics(tmp_path / r["size"] / v) for v in ("dense", "mot")}
        expect = compare(recs["dense"], recs["mot"])[r["modality"]]
        assert r["steps_fraction"] == expect["steps_fraction"]
        assert r["time_fraction"] == pytest.approx(expect["time_fraction"])
        assert (r["time_fraction"] is None) == (r["steps_fraction"] is None)
        assert r["tokens_per_param"] == pytest.approx(4 * 8 * 64 / r["active_params"])
    assert report["grid"] == rows and saved["text"]["dense_final_loss"] == pytest.approx(
        next(r["dense_final_loss"] for r in rows if r["size"] == "0.5M" and r["modality"] == "text"))
    assert set(saved["crossover"]) == {"text", "image", "audio", "video", "all"}
    # each size is one dense-vs-MoT pair (run_study's output): its own report with both variants' sizes
    pair = json.loads((tmp_path / "0.1M" / "report.json").read_text())
    for name in ("text", "image", "audio", "video", "all"):
        assert set(pair[name]) >= {"steps_fraction", "time_fraction", "dense_final_loss", "mot_final_loss"}
        row = next(r for r in rows if r["size"] == "0.1M" and r["modality"] == name)
        assert pair[name]["dense_final_loss"] == pytest.approx(row["dense_final_loss"])
    assert pair["_meta"]["params_total"]["mot"] > pair["_meta"]["params_total"]["dense"]
    assert "| 0.1M | motion video->text | accuracy | 0.300 | 0.250 [0.00, 1.00] | 0.500 [0.00, 1.00] | 3 |" in \
        summary_table(report)
    # a second pass reuses each run's probes.json (same steps, same limit): nothing is judged again
    assert run_grid(cfg, str(tmp_path), ["0.1M"], {"0.1M": 4}, evals=2, probes=3, progress=False)["probes"] == \
        report["probes"][:1] and len(seen) == 4


def test_seed_rows_pool_the_seeds_examples():
    def fig(scores):
        sc = [[float(a), 1.0] for a in scores]
        return {"colour image->text": {"metric": "accuracy", "value": sum(scores) / len(scores), "ci95": [0, 1],
                                       "baseline": 0.25, "higher_is_better": True, "judge": "pixels",
                                       "n": len(scores), "scores": sc}}
    rows = seed_rows({0: fig([1, 1, 0, 0]), 2: fig([1, 1, 1, 1]), 1: fig([0, 0, 0, 1])})
    (r,) = rows
    assert set(r) == set(SEED_KEYS) and r["values"] == {"0": 0.5, "1": 0.25, "2": 1.0}
    assert r["n"] == 4 and r["baseline"] == 0.25
    assert r["mean"] == pytest.approx(1.75 / 3) and r["std"] == pytest.approx(0.3818813, abs=1e-6)
    assert r["pooled"] == pytest.approx(7 / 12) and r["ci95"][0] <= 7 / 12 <= r["ci95"][1]
    assert 0.0 <= r["ci95"][0] and r["ci95"][1] <= 1.0
    with pytest.raises(ConfigError, match="--seeds: expected two or more distinct non-negative integers"):
        parse_seeds("0")
    for bad in ("0,0", "a,b", "-1,2", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    assert parse_seeds("3, 1,2") == [3, 1, 2]


@pytest.mark.integration
def test_tiny_seeds_study_end_to_end(tmp_path, monkeypatch):
    import omni
    import omni.study

    seen = []

    def judge(bundle, corpus, limit, options=None):  # stands in for the probes (tiny runs: no corpus, tokenizers)
        lm = omni.load(bundle)
        seen.append((str(bundle), lm.step, lm.config.seed, limit))
        right = [1.0] * (1 + lm.config.seed) + [0.0] * (limit - 1 - lm.config.seed)
        return {"motion video->text": {"metric": "accuracy", "value": sum(right) / limit, "ci95": [0.0, 1.0],
                                       "baseline": 0.3, "higher_is_better": True, "judge": "frame motion",
                                       "n": limit, "scores": [[x, 1.0] for x in right]}}
    monkeypatch.setattr(omni.study, "probe_figures", judge)
    cfg = load_config("tiny", ["train.seq_len=64", "train.batch_size=8", "train.eval_batches=1", "steps=3"])
    report = run_seeds(cfg, str(tmp_path), [0, 1], 4, progress=False)
    # each seed trains its own run (different initialisation: different weights) and its final step is judged
    assert sorted(seen) == [(str(tmp_path / f"seed{s}" / "bundle"), 3, s, 4) for s in (0, 1)]
    w = [read_metrics(tmp_path / f"seed{s}") for s in (0, 1)]
    assert [r["loss"] for r in w[0] if r["kind"] == "train"] != [r["loss"] for r in w[1] if r["kind"] == "train"]
    (row,) = report["probes"]
    assert row["values"] == {"0": 0.25, "1": 0.5} and row["pooled"] == pytest.approx(3 / 8)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["probes"] == report["probes"] and saved["_meta"]["seeds"] == [0, 1]
    assert "| motion video->text | accuracy | 0.300 | 0.250 | 0.500 | 0.375 (0.177) | 0.375 [" in seeds_table(report)
    # a second pass resumes the finished runs and reuses their probes.json: nothing trains or is judged again
    assert run_seeds(cfg, str(tmp_path), [0, 1], 4, progress=False)["probes"] == report["probes"] and len(seen) == 2
