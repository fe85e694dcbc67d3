"""Held-out evaluation sets picked from the corpus's validation split (items never seen in training).

  captioned  image + caption, one view per distinct item (image->text, text->image retrieval, cycles)
  speech     spoken audio (label has "speech") + its transcript (speech->text, text->speech)
  motion     clips with a motion direction and object label (video->text, text->video; the motion probes)
  numbers    spoken numbers by held-out voices (label "probe": "numbers"; the numbers probes)
  colour     stamps on a grey card captioned with their measured colour (label "probe": "colour"), one view
             per item

Probe examples (label "probe") belong to their probe set only, never to the open-domain sets.

Each set is at most `limit` examples, spread evenly over the candidates in split order (deterministic).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np


@dataclasses.dataclass
class HeldOut:
    captioned: list[dict]
    speech: list[dict]
    motion: list[dict]
    numbers: list[dict] = dataclasses.field(default_factory=list)
    colour: list[dict] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in SETS}


SETS = ("captioned", "speech", "motion", "numbers", "colour")
PROBE_SETS = {"numbers": "has_audio", "colour": "has_image"}  # label "probe" -> the medium it must have


def label_of(example: dict) -> dict:
    try:
        lab = json.loads(example.get("label") or "{}")
    except json.JSONDecodeError:
        return {}
    return lab if isinstance(lab, dict) else {}


def categories(example: dict) -> list[str]:
    """The held-out sets an example belongs to (an image with spoken audio is in two)."""
    text = str(example.get("text", "")).strip()
    if not text:
        return []
    lab = label_of(example)
    if "probe" in lab:
        probe = lab["probe"]
        return [probe] if probe in PROBE_SETS and example.get(PROBE_SETS[probe]) else []
    out = []
    if example.get("has_video") and lab.get("motion") and lab.get("object"):
        out.append("motion")
    if example.get("has_audio") and "speech" in lab:
        out.append("speech")
    if example.get("has_image"):
        out.append("captioned")
    return out


def spread(n: int, limit: int) -> list[int]:
    """`limit` indices evenly spread over range(n) (all of them when n <= limit)."""
    if n <= limit:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, limit).round()})


def select(examples, limit: int) -> HeldOut:
    """examples: a sequence of corpus example dicts (the validation split)."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    found: dict[str, list[int]] = {k: [] for k in SETS}
    items_seen: set[tuple[str, str]] = set()
    for i in range(len(examples)):
        ex = examples[i]
        for c in categories(ex):
            if c in ("captioned", "colour"):  # one view per item: distinct items (retrieval, held-out objects)
                if (c, ex["item"]) in items_seen:
                    continue
                items_seen.add((c, ex["item"]))
            found[c].append(i)

    utterances = _utterances(examples, found.pop("numbers"))
    out = {c: [examples[idx[j]] for j in spread(len(idx), limit)] for c, idx in found.items()}
    # numbers: every utterance is there twice (number words, numeral): one view per utterance, the two forms in
    # turn, so audio->text hears distinct utterances and text->audio gets both kinds of prompt
    picked = [utterances[j] for j in spread(len(utterances), limit)]
    out["numbers"] = [examples[views[k % len(views)]] for k, views in enumerate(picked)]
    return HeldOut(**out)


def _utterances(examples, idx: list[int]) -> list[list[int]]:
    """The indices grouped per utterance (label voice, number), in split order; the words form first."""
    seen: dict[tuple, list[int]] = {}
    for i in idx:
        lab = label_of(examples[i])
        seen.setdefault((lab.get("voice"), lab.get("number")), []).append(i)
    return [sorted(v, key=lambda i: label_of(examples[i]).get("form") != "words") for v in seen.values()]
