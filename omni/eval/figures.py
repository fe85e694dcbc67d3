"""Report figures (matplotlib, Agg): captioned image grids, video strips, loss curves per modality."""
from __future__ import annotations

import pathlib
import textwrap

import numpy as np

from omni.eval.features import to_float01


def _plt():
    import matplotlib  # on use: heavy, and the Agg backend must be chosen before pyplot loads
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def printable(text) -> str:
    """Generated text may hold control characters (an untrained model); they cannot be drawn."""
    return "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in str(text))


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(printable(text), width)[:4]) or "(empty)"


def image_grid(path, columns: list[tuple[str, list[np.ndarray]]], captions: list[str]) -> pathlib.Path:
    """One row per example: `columns` are (header, images per row); `captions` label each row below."""
    plt = _plt()
    rows, cols = len(captions), len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.6 * rows), squeeze=False)
    for r in range(rows):
        for c, (header, images) in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(to_float01(images[r]), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(header, fontsize=9)
        axes[r][0].set_ylabel(_wrap(captions[r], 24), fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return _save(fig, path)


def text_grid(path, images: list[np.ndarray], lines: list[list[str]]) -> pathlib.Path:
    """Images with text underneath (e.g. reference / untrained / trained captions), 4 per row."""
    plt = _plt()
    n, per = len(images), 4
    rows = -(-n // per)
    fig, axes = plt.subplots(rows, per, figsize=(3.0 * per, 3.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(to_float01(images[i]), interpolation="nearest")
        ax.set_xlabel("\n".join(_wrap(t, 34) for t in lines[i]), fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def video_strip(path, clips: list[np.ndarray], labels: list[str]) -> pathlib.Path:
    """One row per clip [T, H, W, 3]: its frames side by side, labelled on the left."""
    plt = _plt()
    lines = [printable(label).split("\n") for label in labels]
    heights = [1.1 + 0.13 * len(t) for t in lines]
    fig, axes = plt.subplots(len(clips), 1, figsize=(1.1 * max(len(c) for c in clips), sum(heights)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, clip, text in zip(axes[:, 0], clips, lines):
        f = to_float01(clip)
        ax.imshow(np.concatenate(list(f), axis=1), interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title("\n".join(t[:110] for t in text), fontsize=7, loc="left")
    fig.tight_layout()
    return _save(fig, path)


def loss_series(records: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """{key: (steps, values)} for every numeric key naming a loss (not z-loss) in the records."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for rec in records:
        for k, v in rec.items():
            if "loss" not in k or "z_loss" in k or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            s = series.setdefault(k, ([], []))
            s[0].append(int(rec["step"]))
            s[1].append(float(v))
    return series


def loss_curves(path, records: list[dict]) -> pathlib.Path | None:
    """Training (solid) and held-out (dashed, keys with 'eval'/'val') loss per modality vs step."""
    series = loss_series(records)
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {}
    for k, (steps, vals) in sorted(series.items()):
        held = "eval" in k or "val" in k
        what = k.split("/")[-1]  # train and held-out curves of one modality share a colour
        color = colors.setdefault(what, f"C{len(colors) % 10}")
        ax.plot(steps, vals, "--o" if held else "-", ms=3, lw=1.2, label=k, color=color)
    ax.set_xlabel("step"), ax.set_ylabel("loss (nats / token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> pathlib.Path:
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=80)
    _plt().close(fig)
    return p
