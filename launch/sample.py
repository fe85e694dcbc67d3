"""Any-to-any sampling from an exported bundle.

    python launch/sample.py --bundle B --text "A goat." --to image --out goat.png
    python launch/sample.py --bundle B --image cat.png --to text
    python launch/sample.py --bundle B --text "Rain." --to image --to audio --out rain.png --out rain.wav
    python launch/sample.py --bundle B --text "A red apple." --to image --guidance 5 --candidates 4 --out apple.png

Prompt items (--text, --image, --audio, --video) keep their command-line order; several --to are
generated in turn, each output conditioning the next. One --out per target in order, or one per media
target (text is always printed). Writes PNG/JPEG, WAV/FLAC/OGG, MP4/GIF, or .txt.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import jax

import omni
from omni import modality as mod
from omni.cli import absl_flags_parsed
from omni.sampling import media_io, prompt
from omni.sampling.score import RERANKERS

MODALITIES = mod.names()


class _Item(argparse.Action):
    """Appends (kind, value) to one shared list, so prompt items keep their command-line order."""

    def __call__(self, parser, namespace, value, option_string=None):
        items = getattr(namespace, "items", None) or []
        items.append((self.dest, value))
        namespace.items = items


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=pathlib.Path, help="folder written by launch/export.py")
    for m in MODALITIES:
        p.add_argument(f"--{m}", dest=m, action=_Item, default=None,
                       help="prompt text" if m == "text" else f"prompt {m} file (repeatable)")
    p.add_argument("--to", action="append", required=True, choices=MODALITIES, help="target modality (repeatable)")
    p.add_argument("--out", action="append", default=[], type=pathlib.Path, help="output file (repeatable)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale; 1 = off")
    p.add_argument("--candidates", type=int, default=1,
                   help="sample this many outputs per target and keep the best by --rerank (1 = off)")
    p.add_argument("--rerank", choices=RERANKERS, default="reverse",
                   help="how --candidates are ranked: reverse = likeliest to give the prompt back, forward = the "
                        "output's own likelihood, bidirectional = both (omni.sampling.score)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=None, help="cap on generated text/audio tokens")
    p.add_argument("--max-seconds", type=float, default=None, help="cap on generated audio length")
    p.add_argument("--print-tokens", action="store_true", help="also print the generated token ids")
    p.add_argument("--devices", type=int, default=0, help="use the first N devices (0 = all)")
    a = p.parse_args(argv)
    a.items = getattr(a, "items", None) or []
    if a.candidates < 1:
        p.error(f"--candidates must be >= 1 (1 = plain sampling), got {a.candidates}")
    media_targets = [t for t in a.to if t != "text"]
    if len(a.out) == len(a.to):
        a.outs = list(zip(a.to, a.out))
    elif len(a.out) == len(media_targets):
        a.outs = [(t, next(iter_out)) if t != "text" else (t, None)
                  for iter_out in [iter(a.out)] for t in a.to]
    else:
        p.error(f"give one --out per target ({len(a.to)}) or per media target ({len(media_targets)}), "
                f"got {len(a.out)}")
    return a


def main(argv: list[str]) -> int:
    absl_flags_parsed()
    a = parse(argv)

    try:
        for t, out in a.outs:
            if out is not None:
                media_io.check_output_path(out, t)
        items = [v if kind == "text" else prompt.load_file(kind, v) for kind, v in a.items]
        model = omni.load(a.bundle, devices=jax.devices()[:a.devices] if a.devices > 0 else None)
        result = omni.sample(model, items, to=a.to, temperature=a.temperature, top_k=a.top_k, top_p=a.top_p,
                             guidance=a.guidance, seed=a.seed, max_new_tokens=a.max_new_tokens,
                             max_seconds=a.max_seconds, candidates=a.candidates, rerank=a.rerank)
        for g, (t, out) in zip(result.outputs, a.outs):
            if t == "text":
                print(g.media)
            if out is not None:
                media_io.write_output(out, t, g.media, sample_rate=model.spec.sample_rate,
                                      fps=model.spec.video_fps)
                print(f"wrote {t} -> {out}", file=sys.stderr)
            if a.print_tokens:
                print(f"{t} tokens: {g.tokens.tolist()}")
    except ValueError as e:  # BundleError, MediaError and bad prompts all say what was expected
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
