"""Writes the evaluation report: OUT/report.json (numbers) and OUT/report.md (tables + media to look at).

Media go under OUT/report/: PNG grids of images with their prompts, WAV files (linked and embedded as
<audio> players), video strips, the loss curves per modality from the run's metrics.jsonl, and
tokenizer reconstructions of held-out items.
"""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np

from omni.eval import figures
from omni.eval import probes as prb
from omni.sampling import media_io

SHOW = 8
MEDIA_DIR = "report"


def clean(x):
    """JSON-safe: numpy scalars -> Python, non-finite floats -> None."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1000 else f"{v:.3f}"
    return str(v)


def cell(text) -> str:
    """Text safe inside a Markdown table cell (generated text may hold anything)."""
    t = figures.printable(str(text).replace("\n", " ")).strip()
    return (t.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;") if t else "(empty)")


def models(samples: dict) -> list[str]:
    """The models a direction's samples hold, in the report's column order."""
    return [m for m in ("untrained", "trained") if m in samples]


def _generated_video_strip(path: pathlib.Path, s: dict, n: int) -> pathlib.Path:
    """A strip of the first `n` text->video samples: the real clip, then each model's clip with the motion
    measured from its frames."""
    clips, labels = [], []
    for i in range(n):
        clips.append(s["trained"][i]["reference"])
        labels.append(f"real: {s['trained'][i]['prompt']}")
        for m in models(s):
            clips.append(s[m][i]["output"])
            labels.append(f"{m} (measured: {s[m][i]['measured']})")
    return figures.video_strip(path, clips, labels)


def _rel(path: pathlib.Path, out: pathlib.Path) -> str:
    return str(path.relative_to(out))


def direction_table(report: dict) -> list[str]:
    lines = ["| direction | metric | trained | untrained | baseline | reference | better |",
             "|---|---|---|---|---|---|---|"]
    for d, e in report["directions"].items():
        ref = f"{fmt(e['reference'])} ({e['reference_kind']})" if "reference" in e else "–"
        lines.append(f"| {d} | {e['metric']} | **{fmt(e['value'])}** | {fmt(e['untrained'])} | "
                     f"{fmt(e['baseline'])} ({e['baseline_kind']}) | {ref} | "
                     f"{'higher' if e['higher_is_better'] else 'lower'} |")
    return lines


def probe_table(report: dict) -> list[str]:
    lines = ["| probe | metric | trained | untrained | baseline | ceiling | through the tokenizer | judge | better "
             "| n |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p, e in report["probes"].items():
        ci = f" [{fmt(e['ci95'][0])}, {fmt(e['ci95'][1])}]" if e.get("ci95") else ""
        lines.append(f"| {p} | {e['metric']} | **{fmt(e['value'])}**{ci} | {fmt(e['untrained'])} | "
                     f"{fmt(e['baseline'])} ({e['baseline_kind']}) | {fmt(e['ceiling'])} ({e['ceiling_kind']}) | "
                     f"{fmt(e.get('tokenizer_ceiling'))} | {e['judge']} | "
                     f"{'higher' if e['higher_is_better'] else 'lower'} | {e['n']} |")
    return lines


def probe_sections(out: pathlib.Path, samples: dict, lm) -> list[str]:
    """The probes' media: held-out speech, generated speech (with PocketSphinx's transcript), colour cards and
    generated pictures (with their measured colour), held-out clips and generated clips (measured direction)."""
    media = out / MEDIA_DIR / "probes"
    sr, fps = lm.spec.sample_rate, lm.spec.video_fps
    lines: list[str] = []
    s = samples.get("probe numbers audio->text")
    if s:
        lines += ["### numbers audio -> text (held-out voices)", "",
                  "| speech (voice) | said | " + " | ".join(models(s)) + " |", "|---|---|" + "---|" * len(models(s))]
        for i in range(min(SHOW, len(s["trained"]))):
            x = s["trained"][i]
            w = media_io.write_audio(media / "numbers_audio_to_text" / f"{i:02d}_real.wav", x["prompt"], 16000)
            lines.append(f"| {_audio_cell(w, out)} ({cell(x['voice'])}) | {cell(x['reference'])} | "
                         + " | ".join(cell(s[m][i]["output"]) for m in models(s)) + " |")
        lines.append("")
    s = samples.get("probe numbers text->audio")
    if s:
        lines += ["### numbers text -> audio (PocketSphinx's transcript in brackets)", "",
                  "| prompt | real held-out speech | " + " | ".join(f"{m} speech" for m in models(s)) + " |",
                  "|---|---|" + "---|" * len(models(s))]
        for i in range(min(SHOW, len(s["trained"]))):
            x = s["trained"][i]
            real = media_io.write_audio(media / "numbers_text_to_audio" / f"{i:02d}_real.wav", x["reference"], 16000)
            cells = _speech_cells(s, i, media / "numbers_text_to_audio", out, sr)
            lines.append(f"| {cell(x['prompt'])} | {_audio_cell(real, out)} | " + " | ".join(cells) + " |")
        lines.append("")
    s = samples.get("probe colour image->text")
    if s:
        n = min(SHOW, len(s["trained"]))
        p = figures.text_grid(media / "colour_image_to_text.png", [x["prompt"] for x in s["trained"][:n]],
                              [[f"ref: {s['trained'][i]['reference']}"] +
                               [f"{m}: {s[m][i]['output']}" for m in models(s)] for i in range(n)])
        lines += ["### colour image -> text (held-out objects)", "", f"![colour image to text]({_rel(p, out)})", ""]
    s = samples.get("probe colour text->image")
    if s:
        n = min(SHOW, len(s["trained"]))
        cols = [("real held-out", [x["reference"] for x in s["trained"][:n]])]
        cols += [(m, [x["output"] for x in s[m][:n]]) for m in models(s)]
        titles = [f"{x['prompt']} -> " + ", ".join(f"{m}: {s[m][i]['measured']}" for m in models(s))
                  for i, x in enumerate(s["trained"][:n])]
        p = figures.image_grid(media / "colour_text_to_image.png", cols, titles)
        lines += ["### colour text -> image (measured colour of each generated picture)", "",
                  f"![colour text to image]({_rel(p, out)})", ""]
    s = samples.get("probe motion video->text")
    if s:
        n = min(SHOW, len(s["trained"]))
        labels = [f"ref: {s['trained'][i]['reference']}\n" + "\n".join(f"{m}: {s[m][i]['output']}" for m in models(s))
                  for i in range(n)]
        p = figures.video_strip(media / "motion_video_to_text.png", [x["prompt"] for x in s["trained"][:n]], labels)
        lines += ["### motion video -> text (held-out objects and backgrounds)", "",
                  f"![motion video to text]({_rel(p, out)})", ""]
    s = samples.get("probe motion text->video")
    if s:
        n = min(SHOW // 2, len(s["trained"]))
        p = _generated_video_strip(media / "motion_text_to_video.png", s, n)
        gifs = [media_io.write_video(media / f"motion_text_to_video_{i}.gif", s["trained"][i]["output"], fps)
                for i in range(n)]
        lines += ["### motion text -> video (measured direction of each generated clip)", "",
                  f"![motion text to video]({_rel(p, out)})", "",
                  "Generated clips, animated: " + " ".join(f"![clip {i}]({_rel(g, out)})" for i, g in enumerate(gifs)),
                  ""]
    return lines


def loss_table(report: dict) -> list[str]:
    lines = ["| direction | trained loss (ppl) | untrained loss (ppl) | uniform loss (ppl) | target tokens |",
             "|---|---|---|---|---|"]
    for d, e in report["loss"].items():
        lines.append(f"| {d} | **{fmt(e['loss'])}** ({fmt(e['value'])}) | {fmt(e['untrained_loss'])} "
                     f"({fmt(e['untrained'])}) | {fmt(e['baseline_loss'])} ({fmt(e['baseline'])}) | {e['tokens']} |")
    return lines


def cycle_table(report: dict) -> list[str]:
    lines = []
    for c, e in report["cycle"].items():
        lines += [f"**{c}** ({e['metric']}; unrelated-text floor {fmt(e['baseline'])}, n = {e['n']})", "",
                  "| model | " + " | ".join(f"round {r}" for r in e["rounds"]) + " |",
                  "|---|" + "---|" * len(e["rounds"]),
                  "| trained | " + " | ".join(fmt(v) for v in e["value"]) + " |"]
        if e.get("untrained") is not None:
            lines.append("| untrained | " + " | ".join(fmt(v) for v in e["untrained"]) + " |")
        lines.append("")
    return lines


def _audio_cell(path: pathlib.Path, out: pathlib.Path) -> str:
    r = _rel(path, out)
    return f'<audio controls src="{r}"></audio> [wav]({r})'


def _speech_cells(s: dict, i: int, folder: pathlib.Path, out: pathlib.Path, sr: int) -> list[str]:
    """Per model: a player for its generated speech of sample `i` (written under `folder`) and the recogniser's
    transcript of it in brackets."""
    cells = []
    for m in models(s):
        x = s[m][i]
        if x["output"] is None or len(x["output"]) == 0:
            cells.append(f"(no audio) ({cell(x['transcript'])})")
            continue
        w = media_io.write_audio(folder / f"{i:02d}_{m}.wav", x["output"], x["sample_rate"] or sr)
        cells.append(f"{_audio_cell(w, out)} ({cell(x['transcript'])})")
    return cells


def sample_sections(out: pathlib.Path, samples: dict, lm) -> list[str]:
    media = out / MEDIA_DIR
    sr, fps = lm.spec.sample_rate, lm.spec.video_fps
    lines: list[str] = []
    if "image->text" in samples:
        s = samples["image->text"]
        n = min(SHOW, len(s["trained"]))
        p = figures.text_grid(media / "image_to_text.png", [x["prompt"] for x in s["trained"][:n]],
                              [[f"ref: {s['trained'][i]['reference']}"] +
                               [f"{m}: {s[m][i]['output']}" for m in models(s)] for i in range(n)])
        lines += ["### image -> text", "", f"![image to text]({_rel(p, out)})", ""]
    if "text->image" in samples:
        s = samples["text->image"]
        n = min(SHOW, len(s["trained"]))
        cols = [("real item", [x["reference"] for x in s["trained"][:n]])]
        cols += [(m, [x["output"] for x in s[m][:n]]) for m in models(s)]
        p = figures.image_grid(media / "text_to_image.png", cols, [x["prompt"] for x in s["trained"][:n]])
        lines += ["### text -> image", "", f"![text to image]({_rel(p, out)})", ""]
    for d in ("audio->text", "text->audio"):
        if d not in samples:
            continue
        s = samples[d]
        lines += [f"### {d.replace('->', ' -> ')}", ""]
        if d == "audio->text":
            lines += ["| speech | reference | " + " | ".join(models(s)) + " |", "|---|---|" + "---|" * len(models(s))]
        else:
            lines += ["| prompt | " + " | ".join(f"{m} speech (its transcript)" for m in models(s)) + " |",
                      "|---|" + "---|" * len(models(s))]
        for i in range(min(SHOW, len(s["trained"]))):
            if d == "audio->text":
                w = media_io.write_audio(media / "audio_to_text" / f"{i:02d}_real.wav", s["trained"][i]["prompt"],
                                         16000)
                lines.append(f"| {_audio_cell(w, out)} | {cell(s['trained'][i]['reference'])} | "
                             + " | ".join(cell(s[m][i]["output"]) for m in models(s)) + " |")
            else:
                cells = _speech_cells(s, i, media / "text_to_audio", out, sr)
                lines.append(f"| {cell(s['trained'][i]['prompt'])} | " + " | ".join(cells) + " |")
        lines.append("")
    if "video->text" in samples:
        s = samples["video->text"]
        n = min(SHOW, len(s["trained"]))
        labels = [f"ref: {s['trained'][i]['reference']}\n" + "\n".join(f"{m}: {s[m][i]['output']}" for m in models(s))
                  for i in range(n)]
        p = figures.video_strip(media / "video_to_text.png", [x["prompt"] for x in s["trained"][:n]], labels)
        lines += ["### video -> text", "", f"![video to text]({_rel(p, out)})", ""]
    if "text->video" in samples:
        s = samples["text->video"]
        n = min(SHOW // 2, len(s["trained"]))
        p = _generated_video_strip(media / "text_to_video.png", s, n)
        gif = media_io.write_video(media / "text_to_video_0.gif", s["trained"][0]["output"], fps)
        lines += ["### text -> video", "", f"![text to video]({_rel(p, out)})", "",
                  f"First generated clip, animated: ![clip]({_rel(gif, out)})", ""]
    for c in ("text->image->text", "text->audio->text"):
        if c not in samples:
            continue
        s = samples[c]
        lines += [f"### cycle {c}", "", "| original | " + " | ".join(f"round {r + 1} (trained)"
                                                                    for r in range(len(s["trained"]))) + " |",
                  "|---|" + "---|" * len(s["trained"])]
        for i in range(min(4, len(s["originals"]))):
            lines.append(f"| {cell(s['originals'][i])} | " + " | ".join(cell(r[i]) for r in s["trained"]) + " |")
        lines.append("")
    return lines


def reconstructions(out: pathlib.Path, lm, sets) -> list[str]:
    """Tokenizer round trips (encode -> decode) of held-out items beside the originals."""
    media, toks, spec = out / MEDIA_DIR / "reconstructions", lm.tokenizers, lm.spec
    lines = ["## Tokenizer reconstructions", ""]
    if "image" in toks and sets.captioned:
        real, rec = zip(*(prb.round_trip(lm, "image", e["image"]) for e in sets.captioned[:SHOW]))
        p = figures.image_grid(media / "image.png", [("original", list(real)), ("tokenizer", list(rec))],
                               [e["text"] for e in sets.captioned[:SHOW]])
        lines += [f"![image reconstructions]({_rel(p, out)})", ""]
    if "video" in toks and sets.motion:
        clips, labels = [], []
        for e in sets.motion[:3]:
            clips += prb.round_trip(lm, "video", e["video"])
            labels += [f"original: {e['text']}", "tokenizer"]
        p = figures.video_strip(media / "video.png", clips, labels)
        lines += [f"![video reconstructions]({_rel(p, out)})", ""]
    if "audio" in toks and sets.speech:
        rows = ["| text | original | tokenizer |", "|---|---|---|"]
        for i, e in enumerate(sets.speech[:4]):
            wave, rec = prb.round_trip(lm, "audio", e["audio"])
            a = media_io.write_audio(media / f"audio_{i:02d}_original.wav", wave, spec.sample_rate)
            b = media_io.write_audio(media / f"audio_{i:02d}_tokenizer.wav", rec, spec.sample_rate)
            rows.append(f"| {cell(e['text'])} | {_audio_cell(a, out)} | {_audio_cell(b, out)} |")
        lines += rows + [""]
    return lines


def _decoding(d: dict) -> str:
    text = "greedy" if d["temperature"] == 0 else f"temperature {d['temperature']}"
    media = d.get("media_temperature")
    if media is None:
        return text
    top_p = d.get("media_top_p", 1.0)
    visual = _media_decoding(media, top_p, d.get("media_guidance", 1.0))
    audio = _media_decoding(d.get("audio_temperature", media), top_p,
                            d.get("audio_guidance", d.get("media_guidance", 1.0)))
    rerank = d.get("rerank", {})
    best = "".join(f"; {m} the best of {k} per prompt by {rerank.get(m, 'reverse')} likelihood"
                   for m, k in d.get("candidates", {}).items() if k > 1)
    best += " (omni.sampling.score)" if best else ""
    if audio == visual:
        return f"{text}; image, audio and video {visual}{best}; seed {d.get('seed', 0)}"
    return f"{text}; image and video {visual}; audio {audio}{best}; seed {d.get('seed', 0)}"


def _media_decoding(temperature: float, top_p: float, guidance: float) -> str:
    out = "greedy" if temperature == 0 else f"sampled at temperature {temperature}, top-p {top_p}"
    return out + (f", classifier-free guidance {guidance}" if guidance != 1.0 else "")


def write_report(out, report: dict, samples: dict, lm, sets, run_dir=None) -> tuple[pathlib.Path, pathlib.Path]:
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Evaluation of `{report['bundle']}` (step {report['step']})", "",
          f"Held-out data only (the corpus's validation split: items never trained on): "
          f"{', '.join(f'{v} {k}' for k, v in report['heldout'].items())} examples. Decoding: text "
          f"{_decoding(report['decoding'])}. The untrained column is the same architecture "
          f"freshly initialised with the config's seed, evaluated identically.", "",
          "## Directions", ""] + direction_table(report) + [""]
    if report.get("probes"):
        md += ["## Capability probes (held-out speakers, objects, backgrounds; judged without the model)", "",
               "Each probe beside the majority-answer baseline, the untrained model and the judge's ceiling (the "
               "judge on the real held-out media, and on the tokenizer's reconstruction of them: what a perfect "
               "model could score through this tokenizer). Numbers are scored in words (\"73\" = \"seventy three\"). "
               "Brackets: the trained value's 95% bootstrap interval over the held-out examples; a probe beats its "
               "baseline clearly when the interval excludes it.",
               ""] + probe_table(report) + [""]
    if report["loss"]:
        md += ["## Held-out loss per task direction (nats per target token)", ""] + loss_table(report) + [""]
    if report["cycle"]:
        md += ["## Cycle consistency (Telephone Game)", ""] + cycle_table(report)
    if report["skipped"]:
        md += ["Not evaluated: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items()), ""]
    curve = None
    if run_dir is not None:
        path = pathlib.Path(run_dir)
        path = path if path.is_file() else path / "metrics.jsonl"
        if path.is_file():
            from omni.train.metrics import read_metrics  # jax-importing module, needed only here
            curve = figures.loss_curves(out / MEDIA_DIR / "loss_curves.png", read_metrics(path))
        else:
            md += [f"No training curves: {path} does not exist.", ""]
    if curve is not None:
        md += ["## Training loss per modality", "", f"![loss curves]({_rel(curve, out)})", ""]
    if any(k.startswith("probe ") for k in samples):
        md += ["## Probe samples", ""] + probe_sections(out, samples, lm)
    md += ["## Samples", ""] + sample_sections(out, samples, lm)
    md += reconstructions(out, lm, sets)
    md += [f"Evaluation took {report['seconds']:.0f} s."]
    (out / "report.json").write_text(json.dumps(clean(report), indent=2, allow_nan=False))
    (out / "report.md").write_text("\n".join(md) + "\n")
    return out / "report.json", out / "report.md"
