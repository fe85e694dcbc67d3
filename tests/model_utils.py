"""Shared test helpers: random packed multimodal batches of the training contract."""
from __future__ import annotations

import numpy as np

from omni import modality as mod


def random_batch(vocab, B: int, L: int, seed: int = 0, modalities=("text", "image", "audio", "video"),
                 max_segments: int = 3):
    """Random packed rows: segments of random length (with padding at the end), mixed modality runs,
    bidirectional spans on some non-text runs, ids drawn from each token's modality range."""
    rng = np.random.default_rng(seed)
    out = {k: np.zeros((B, L), np.int32) for k in ("inputs", "targets", "input_modality", "target_modality",
                                                   "segment_ids", "positions", "span_ids")}
    out["loss_mask"] = np.zeros((B, L), np.float32)
    for b in range(B):
        t, seg, span = 0, 1, 1
        for _ in range(rng.integers(1, max_segments + 1)):
            n = int(rng.integers(L // 6, L // 2))
            n = min(n, L - t)
            if n <= 1:
                break
            # runs of one modality inside the segment
            i = 0
            while i < n:
                m = modalities[rng.integers(len(modalities))]
                run = min(int(rng.integers(3, 20)), n - i)
                a, z = vocab.range(m)
                sl = slice(t + i, t + i + run)
                out["inputs"][b, sl] = rng.integers(a, z, run)
                out["input_modality"][b, sl] = mod.modality_id(m)
                if m != "text" and rng.random() < 0.5:
                    out["span_ids"][b, sl] = span
                    span += 1
                i += run
            sl = slice(t, t + n)
            out["segment_ids"][b, sl] = seg
            out["positions"][b, sl] = np.arange(n)
            out["targets"][b, t:t + n - 1] = out["inputs"][b, t + 1:t + n]
            out["target_modality"][b, t:t + n - 1] = out["input_modality"][b, t + 1:t + n]
            out["loss_mask"][b, t:t + n - 1] = 1.0
            t += n
            seg += 1
    return out
