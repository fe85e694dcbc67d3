"""The bundle's README.md model card: what the model is, what it was trained on, how well, how to use it."""
from __future__ import annotations


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _layout_section(manifest: dict) -> list[str]:
    """Where each modality's ids sit in the unified vocabulary and how the untied weights are indexed."""
    if "vocab" not in manifest:
        return []
    v, order = manifest["vocab"], manifest["modality_axis"]
    lines = ["## Reading the weights without omni", "",
             f"`params.safetensors` + `manifest.json` describe the model. The unified vocabulary has {v['size']} ids; "
             f"modality *m* owns ids `[start, stop)`, its local code *k* is id `code_offset + k`, and its output "
             f"head is columns `[start, stop)` of `unembed` (`embed` rows index the same ids). Special tokens "
             f"(`manifest.json` `vocab.special_tokens`) are ids 0-{len(v['special_tokens']) - 1} in the text "
             "range.", "",
             "| modality | modality index | ids [start, stop) | code_offset | codes | begin id | end id |",
             "|---|---|---|---|---|---|---|"]
    for m, r in v["modalities"].items():
        lines.append(f"| {m} | {order.index(m)} | [{r['start']}, {r['stop']}) | {r['code_offset']} | {r['codes']} | "
                     f"{r['begin_id']} | {r['end_id']} |")
    untied = sorted(k for k, p in manifest["params"].items() if "modality" in p["axes"]
                    and p["shape"][p["axes"].index("modality")] > 1)
    tied = sorted(k for k, p in manifest["params"].items() if "modality" in p["axes"] and k not in untied)
    lines += ["", f"Per-modality weights have an axis named `modality` (`manifest.json` `params.<name>.axes`), indexed "
              f"in the order {', '.join(f'{i} = {m}' for i, m in enumerate(order))}; a token of modality *m* uses "
              "only index *m*. " + (f"Untied: {', '.join(untied)}. " if untied else "")
              + (f"Tied (that axis has size 1, one copy shared by every modality): {', '.join(tied)}." if tied else ""),
              ""]
    if "audio" in v["modalities"]:
        lines[-1:-1] = ["Audio local ids are level-offset: level *l*, code *c* is local id `l * audio_codebook + c` "
                        "(`manifest.json` `sampling`), frame-major in sequences.", ""]
    return lines


def model_card(manifest: dict, notes: str = "") -> str:
    """Markdown from the manifest fields (config, step, sampling spec, held-out metrics)."""
    cfg, spec = manifest["config"], manifest["sampling"]
    m, d, t = cfg["model"], cfg["data"], cfg["train"]
    mot = "Mixture-of-Transformers" if (m["untie_attention"] or m["untie_ffn"] or m["untie_norms"]) else "dense"
    lines = [
        f"# omni model `{cfg['name']}` (step {manifest['step']})", "",
        f"An any-to-any {mot} decoder over one unified vocabulary (text, image, audio, video), exported by "
        f"omni {manifest['omni_version']} on {manifest['created']}.", "",
        "## Model", "",
        f"- parameters: {manifest['num_params']:,} stored as {manifest['param_dtype']} in `params.safetensors`",
        f"- layers {m['n_layers']}, d_model {m['d_model']}, heads {m['n_heads']} (kv {m['n_kv_heads']}), "
        f"head_dim {m['head_dim']}, d_ff {m['d_ff']}, max_seq_len {m['max_seq_len']}",
        f"- vocabulary codes: text {cfg['vocab']['text']}, image {cfg['vocab']['image']}, "
        f"audio {cfg['vocab']['audio']}, video {cfg['vocab']['video']}",
        f"- tokenizers bundled: {', '.join(manifest['tokenizers']) or 'none (prompts and outputs as tokens)'}", "",
        "## Training", "",
        f"- data source: {d['source']}" + (f" ({d['token_dir']})" if d["source"] == "tokens" else ""),
        f"- task mixture: {', '.join(f'{k} {w}' for k, w in d['mixture'])}",
        f"- targets: {', '.join(spec['trained_targets'])}; inputs: {', '.join(spec['trained_inputs'])}",
        f"- steps: {manifest['step']} of {cfg['steps']}, batch {t['batch_size']} x {t['seq_len']} tokens, "
        f"peak lr {t['learning_rate']}", "",
        "## Held-out metrics", "",
    ]
    if manifest["metrics"]:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(manifest["metrics"].items())]
    else:
        lines.append("none recorded at export")
    lines += [
        "", "## Layout the model expects", "",
        f"- image: {spec['image_size']}x{spec['image_size']} RGB -> {spec['image_tokens']} tokens",
        f"- video: {spec['video_frames']} frames of {spec['video_size']}x{spec['video_size']} -> "
        f"{spec['video_tokens']} tokens",
        f"- audio: {spec['sample_rate']} Hz mono, {spec['audio_quantizers']} levels per frame, "
        f"{spec['audio_frame_rate']:g} frames/s, up to {spec['max_audio_s']:g} s", "",
        *_layout_section(manifest),
        "## Use", "",
        "```python", "import omni",
        "m = omni.load('path/to/this/bundle')",
        "out = omni.sample(m, ['A goat.'], to='image', temperature=0.9, top_k=64, guidance=3.0, seed=0)",
        "```", "",
        "or `python launch/sample.py --bundle path/to/this/bundle --text \"A goat.\" --to image --out goat.png`.",
        "", "Integrity: `manifest.json` lists the size and SHA-256 of every file; `omni.load` refuses a "
        "truncated, modified or incompatible bundle.",
    ]
    if notes:
        lines += ["", "## Notes", "", notes]
    return "\n".join(lines) + "\n"
