"""Analytic parameter counts and training FLOPs per token for any config (no model is built)."""
from __future__ import annotations

import dataclasses

from omni import modality as mod
from omni.config import Config


@dataclasses.dataclass(frozen=True)
class ModelStats:
    total_params: int          # every parameter (MoT counts each modality's copy)
    active_params: int         # parameters that touch one token (embedding row excluded, whole head included)
    embedding_params: int
    train_flops_per_token: float  # forward + backward: matmuls and attention (causal half counted); the head
                                  # over the whole vocabulary, or its widest modality slice (model.grouped_head)
    forward_flops_per_token: float

    def summary(self) -> str:
        return (f"params total {self.total_params / 1e6:.2f}M, active/token {self.active_params / 1e6:.2f}M, "
                f"train FLOPs/token {self.train_flops_per_token / 1e9:.3f} GFLOP")


def model_stats(cfg: Config, seq_len: int | None = None) -> ModelStats:
    m = cfg.model
    vocab = cfg.vocab.build()
    V = vocab.size
    widths = vocab.head_ranges()[:, 1] - vocab.head_ranges()[:, 0]
    head_cols = int(widths.max()) if m.grouped_head else V  # the grouped head multiplies by the widest slice
    M = len(mod.names())
    L = seq_len or cfg.train.seq_len
    D, H, Hkv, Dh, F, nL = m.d_model, m.n_heads, m.n_kv_heads, m.head_dim, m.d_ff, m.n_layers
    attn_mm = D * H * Dh + 2 * D * Hkv * Dh + H * Dh * D
    ffn_mm = 3 * D * F
    norms = 2 * D
    qk = 2 * Dh
    na = M if m.untie_attention else 1
    nf = M if m.untie_ffn else 1
    nn_ = M if m.untie_norms else 1
    per_layer_total = na * (attn_mm + qk) + nf * ffn_mm + nn_ * norms
    digit_rows = sum(sum(levels) for _, levels in m.code_levels)  # model.code_levels: [K, D] in and [D, K] out
    embedding = 2 * V * D + 2 * digit_rows * D
    total = embedding + nn_ * D + nL * per_layer_total
    active_mm = nL * (attn_mm + ffn_mm) + D * V
    active = active_mm + nL * (qk + norms) + D
    # Attention scores + weighted sum: 4 * L * H * Dh per token per layer forward, half of it under causality.
    attn_fwd = nL * 4 * L * H * Dh * 0.5
    fwd = 2 * (active_mm - D * V + D * head_cols) + attn_fwd
    return ModelStats(total, active, embedding, 3 * fwd, fwd)
