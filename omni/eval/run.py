"""`evaluate_bundle`: every held-out figure of a bundle beside its baselines and the untrained model.

The untrained model is the bundle's architecture freshly initialised with the config's seed, evaluated
identically (same held-out examples, same decoding). Writes OUT/report.json and OUT/report.md.
"""
from __future__ import annotations

import math
import pathlib
import time

import numpy as np

import omni
from omni.data.corpus.reader import open_corpus
from omni.eval import cycle as cyc
from omni.eval import directions as dirs
from omni.eval import metrics
from omni.eval import probes as prb
from omni.eval.generate import GenOptions, first_set
from omni.eval.heldout import select
from omni.eval.heldout_loss import direction_examples, direction_losses, uniform_loss
from omni.eval.report import write_report
from omni.model import build_model
from omni.sampling.loaded import LoadedModel

MEDIA_OF = {"image->text": ("image", "text"), "text->image": ("text", "image"), "audio->text": ("audio", "text"),
            "text->audio": ("text", "audio"), "video->text": ("video", "text"), "text->video": ("text", "video")}


def untrained_like(lm):
    """The same architecture and tokenizers with freshly initialised weights (seed = the config's)."""
    return LoadedModel(build_model(lm.config, seed=lm.config.seed), lm.config, lm.spec, lm.tokenizers)


def feasible(lm, direction: str, sets, set_name: str | None = None) -> str | None:
    """None if `direction` can be evaluated, else why not."""
    src, tgt = MEDIA_OF[direction]
    spec = lm.spec
    if tgt not in spec.trained_targets or src not in spec.trained_inputs:
        return f"the model was not trained on {src} -> {tgt}"
    for m in (src, tgt):
        if m not in lm.tokenizers:
            return f"the bundle has no {m} tokenizer"
    set_name = dirs.spec(direction)[1] if set_name is None else set_name
    n = len(getattr(sets, set_name))
    if n < 2:
        return f"only {n} held-out examples in the {set_name} set"
    return None


def heldout_sets(corpus, limit: int):
    """`select`'s held-out sets of `corpus`: a corpus data_dir (its validation split) or a sequence of examples."""
    return select(open_corpus(corpus, "validation") if isinstance(corpus, (str, pathlib.Path)) else corpus, limit)


def evaluate_bundle(bundle, corpus, out, *, token_dir=None, run_dir=None, limit: int = 16,
                    cycle_items: int = 8, rounds: int = 3, loss_examples: int = 32,
                    options: GenOptions | None = None, untrained: bool = True, log=print) -> dict:
    """Evaluates `bundle` on held-out data and writes OUT/report.json + OUT/report.md (+ media under
    OUT/report/). `corpus`: a corpus data_dir (its validation split is read) or a sequence of example
    dicts of the corpus schema. Returns the report dict."""
    t0 = time.time()
    options = options or GenOptions(batch=limit)
    lm = omni.load(bundle)
    models = {"trained": lm}
    if untrained:
        models["untrained"] = untrained_like(lm)
    sets = heldout_sets(corpus, limit)
    log(f"[eval] held-out sets: {sets.counts()}")
    report: dict = {"bundle": str(bundle), "step": lm.step, "heldout": sets.counts(), "limit": limit,
                    "decoding": {"temperature": options.temperature, "media_temperature": options.media_temperature,
                                 "media_top_p": options.media_top_p,
                                 "media_guidance": options.media_guidance,
                                 "audio_temperature": first_set(options.audio_temperature, options.media_temperature),
                                 "audio_guidance": first_set(options.audio_guidance, options.media_guidance),
                                 "candidates": dict(options.candidates), "rerank": dict(options.rerank),
                                 "seed": options.seed},
                    "directions": {}, "probes": {}, "loss": {}, "cycle": {}, "skipped": {}}
    samples: dict = {}
    if token_dir is not None:
        add_losses(report, models, token_dir, loss_examples)
        log(f"[eval] held-out loss for {len(report['loss'])} directions ({time.time() - t0:.0f}s)")
    for d, runner in dirs.DIRECTIONS.items():
        why = feasible(lm, d, sets)
        if why:
            report["skipped"][d] = why
            continue
        samples[d] = add_direction(report, models, d, runner, getattr(sets, dirs.spec(d)[1]), options)
        entry = report["directions"][d]
        log(f"[eval] {d}: {entry['metric']} = {entry['value']:.3f} (baseline {entry['baseline']:.3f}"
            + (f", untrained {entry['untrained']:.3f}" if untrained else "") + f") ({time.time() - t0:.0f}s)")
    for p, runner in prb.PROBES.items():
        m = prb.spec(p)
        why = feasible(lm, m["direction"], sets, m["heldout"])
        if why:
            report["skipped"][p] = why
            continue
        samples[f"probe {p}"] = add_probe(report, models, p, runner, getattr(sets, m["heldout"]), options)
        e = report["probes"][p]
        log(f"[eval] probe {p}: {e['metric']} = {e['value']:.3f} (baseline {e['baseline']:.3f}, ceiling "
            f"{e['ceiling']:.3f}" + (f", untrained {e['untrained']:.3f}" if untrained else "")
            + f") ({time.time() - t0:.0f}s)")
    for c, via in cyc.CYCLES.items():
        d1, d2 = f"text->{via}", f"{via}->text"
        if d1 not in report["directions"] or d2 not in report["directions"] or rounds < 1:
            report["skipped"][c] = f"needs both {d1} and {d2}"
            continue
        texts = list(dict.fromkeys(e["text"] for e in (sets.captioned if via == "image" else sets.speech)))
        texts = texts[:cycle_items]
        if len(texts) < 2:
            report["skipped"][c] = f"needs 2 distinct held-out texts, found {len(texts)}"
            continue
        samples[c] = add_cycle(report, models, c, via, texts, rounds, options)
        per_round = ", ".join(f"{v:.3f}" for v in report["cycle"][c]["value"])
        log(f"[eval] {c}: F1 per round [{per_round}] ({time.time() - t0:.0f}s)")

    report["seconds"] = round(time.time() - t0, 1)
    write_report(out, report, samples, lm, sets, run_dir=run_dir)
    log(f"[eval] wrote {pathlib.Path(out) / 'report.md'} and report.json ({report['seconds']:.0f}s)")
    return report


def add_losses(report: dict, models: dict, token_dir, loss_examples: int) -> None:
    """report["loss"][direction]: held-out perplexity of each model on up to `loss_examples` validation token
    examples per direction, beside the uniform baseline (report["skipped"] says why when there are none)."""
    lm = models["trained"]
    untrained = "untrained" in models
    seq_len = lm.config.train.seq_len
    try:
        exs = direction_examples(token_dir, lm.vocab, lm.spec, seq_len, loss_examples)
    except ValueError as e:  # no/unfinished validation shards: say so in the report, evaluate the rest
        report["skipped"]["held-out loss"] = str(e)
        exs = {}
    losses = {name: direction_losses(m.model, exs, seq_len) for name, m in models.items()}
    for d, r in losses["trained"].items():
        base = uniform_loss(lm.vocab, d.split("->")[1])
        report["loss"][d] = {
            "metric": "held-out perplexity", "value": r["perplexity"], "loss": r["loss"],
            "baseline": math.exp(base), "baseline_loss": base,
            "baseline_kind": "uniform over the target modality's vocabulary slice",
            "untrained": losses["untrained"][d]["perplexity"] if untrained else None,
            "untrained_loss": losses["untrained"][d]["loss"] if untrained else None,
            "higher_is_better": False, "tokens": r["tokens"], "n": r["examples"]}


def add_direction(report: dict, models: dict, d: str, runner, exs, options: GenOptions) -> dict:
    """report["directions"][d] (and "video->text/object"): each model's figure on the held-out examples `exs`
    beside the baselines and any real reference. -> {model name: samples}."""
    untrained = "untrained" in models
    metric, _, higher = dirs.spec(d)
    results = {name: runner(m, exs, options) for name, m in models.items()}
    base, base_kind, base_extra = dirs.baselines(d, exs)
    tr = results["trained"]
    entry = {"metric": metric, "value": tr[0], "baseline": base, "baseline_kind": base_kind,
             "untrained": results["untrained"][0] if untrained else None, "higher_is_better": higher,
             "n": len(exs)}
    ref = dirs.real_reference(d, exs)
    if ref:
        entry["reference"], entry["reference_kind"] = ref
    report["directions"][d] = entry
    if d == "video->text":  # the object is a second headline figure of the same generations
        report["directions"]["video->text/object"] = {
            "metric": dirs.DIRECTIONS.meta(d)["also"]["video->text/object"], "value": tr[1]["object_accuracy"],
            "baseline": base_extra["object_accuracy"],
            "baseline_kind": f"always the most common object ({base_extra['object_guess']!r})",
            "untrained": results["untrained"][1]["object_accuracy"] if untrained else None,
            "higher_is_better": True, "n": len(exs)}
    return {name: r[2] for name, r in results.items()}


def add_probe(report: dict, models: dict, p: str, runner, exs, options: GenOptions) -> dict:
    """report["probes"][p]: each model's figure on the probe's held-out examples beside the majority baseline, the
    judge's ceiling on the real media and on the trained bundle's tokenizer round trips. -> {model name: samples}."""
    m = prb.spec(p)
    results = {name: runner(lm, exs, options) for name, lm in models.items()}
    base, base_kind = prb.baseline(p, exs)
    ceil, ceil_kind = prb.ceiling(p, exs)
    # both directions of a family judge the same held-out media's round trips: computed once per family
    sibling = next((e for q, e in report["probes"].items()
                    if q.split()[0] == p.split()[0] and prb.spec(q)["heldout"] == m["heldout"]), None)
    tok_ceil, tok_kind = ((sibling["tokenizer_ceiling"], sibling["tokenizer_ceiling_kind"]) if sibling else
                          prb.tokenizer_ceiling(p, exs, models["trained"]))
    report["probes"][p] = {
        "metric": m["metric"], "value": results["trained"][0], "baseline": base, "baseline_kind": base_kind,
        "ci95": probe_ci(results["trained"][1]),
        "ci95_kind": "bootstrap over the held-out examples (2000 resamples, percentile)",
        "untrained": results["untrained"][0] if "untrained" in results else None, "ceiling": ceil,
        "ceiling_kind": ceil_kind, "tokenizer_ceiling": tok_ceil, "tokenizer_ceiling_kind": tok_kind,
        "higher_is_better": m["higher_is_better"], "judge": m["judge"], "n": len(exs)}
    return {name: r[1] for name, r in results.items()}


def probe_ci(samples: list[dict]) -> list[float]:
    """A probe value's 95% bootstrap interval from its samples' [numerator, denominator] scores."""
    scores = np.asarray([smp["score"] for smp in samples])
    return list(metrics.ratio_ci(scores[:, 0], scores[:, 1]))


def probe_figures(bundle, corpus, limit: int = 16, options: GenOptions | None = None) -> dict:
    """Every feasible probe of `bundle` on `limit` held-out examples of `corpus` (a data_dir or examples):
    {probe: {"metric", "value", "ci95", "baseline", "higher_is_better", "judge", "n", "scores"}} (no untrained
    model, no ceilings: the figures `evaluate_bundle` reports beside each probe's value, plus each example's
    [numerator, denominator] score, whose pooled ratio is the value; the studies' pass, omni.study)."""
    lm = omni.load(bundle)
    sets = heldout_sets(corpus, limit)
    options = options or GenOptions(batch=limit)
    out = {}
    for p, runner in prb.PROBES.items():
        m = prb.spec(p)
        if feasible(lm, m["direction"], sets, m["heldout"]):
            continue
        exs = getattr(sets, m["heldout"])
        value, samples = runner(lm, exs, options)
        out[p] = {"metric": m["metric"], "value": value, "ci95": probe_ci(samples),
                  "baseline": prb.baseline(p, exs)[0], "higher_is_better": m["higher_is_better"],
                  "judge": m["judge"], "n": len(exs), "scores": [list(map(float, smp["score"])) for smp in samples]}
    return out


def add_cycle(report: dict, models: dict, c: str, via: str, texts: list[str], rounds: int,
              options: GenOptions) -> dict:
    """report["cycle"][c]: token-F1 to the original `texts` after each of `rounds` text -> `via` -> text
    rounds, per model, beside the unrelated-text floor. -> the samples (originals, each model's rounds)."""
    untrained = "untrained" in models
    runs = {name: cyc.run_cycle(m, texts, via, rounds, options) for name, m in models.items()}
    report["cycle"][c] = {"metric": "token-F1 to the original text after each round",
                          "rounds": list(range(1, rounds + 1)), "value": runs["trained"][0],
                          "untrained": runs["untrained"][0] if untrained else None,
                          "baseline": cyc.unrelated_floor(texts),
                          "baseline_kind": "token-F1 of an unrelated held-out text", "higher_is_better": True,
                          "n": len(texts)}
    return {"originals": texts, **{name: r[1] for name, r in runs.items()}}
