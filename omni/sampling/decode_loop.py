"""Autoregressive decoding under one jit: prefill the prompts, then a `lax.while_loop` over a fixed-shape cache.

Rows are right-padded prompts (padding has segment id 0, so nothing sees it); generated token t of
every row goes to cache slot P + t with position len(prompt) + t, so rows of different lengths decode
together. With classifier-free guidance the unconditional rows ride in the same batch (rows B..2B) and
receive the same sampled tokens. `use_cache=False` recomputes the whole prefix every step (the baseline
the KV cache is measured against; same tokens).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from omni.attention import MaskInfo
from omni.sampling import filters
from omni.sampling.targets import TargetPlan


@dataclasses.dataclass(frozen=True)
class Controls:
    """Sampling controls; guidance = 1 means no classifier-free guidance, temperature 0 greedy."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    guidance: float = 1.0
    seed: int = 0

    def validate(self) -> Controls:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.guidance < 0:
            raise ValueError(f"guidance scale must be >= 0 (1 = off), got {self.guidance}")
        return self


@dataclasses.dataclass(frozen=True)
class PromptBatch:
    """Right-padded prompts: tokens / modality / span_ids [R, P] int32 and lengths [R]."""

    tokens: np.ndarray
    modality: np.ndarray
    span_ids: np.ndarray
    lengths: np.ndarray

    @classmethod
    def pad(cls, prompts: list[dict[str, np.ndarray]], multiple: int = 32) -> PromptBatch:
        """From `tasks.prompt` dicts (inputs, input_modality, span_ids); P rounded up to `multiple`."""
        if not prompts:
            raise ValueError("no prompts to decode")
        lengths = np.array([len(p["inputs"]) for p in prompts], np.int32)
        P = int(-(-lengths.max() // multiple) * multiple)
        out = {k: np.zeros((len(prompts), P), np.int32) for k in ("inputs", "input_modality", "span_ids")}
        for i, p in enumerate(prompts):
            for k in out:
                out[k][i, :lengths[i]] = p[k]
        return cls(out["inputs"], out["input_modality"], out["span_ids"], lengths)

    @classmethod
    def concat(cls, a: PromptBatch, b: PromptBatch) -> PromptBatch:
        P = max(a.tokens.shape[1], b.tokens.shape[1])

        def cat(x, y):
            return np.concatenate([np.pad(x, ((0, 0), (0, P - x.shape[1]))),
                                   np.pad(y, ((0, 0), (0, P - y.shape[1])))])
        return cls(cat(a.tokens, b.tokens), cat(a.modality, b.modality), cat(a.span_ids, b.span_ids),
                   np.concatenate([a.lengths, b.lengths]))

    @property
    def rows(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def width(self) -> int:
        return int(self.tokens.shape[1])


class Decoder:
    """A model split into (graph, state) for the jitted generate program (compiled once per graph + shapes,
    shared by every Decoder of an equal graph)."""

    def __init__(self, model):
        self.graphdef, self.state = nnx.split(model)
        self.max_seq_len = int(model.cfg.max_seq_len)

    def generate(self, prompts: PromptBatch, plan: TargetPlan, controls: Controls = Controls(), *,
                 uncond: PromptBatch | None = None, use_cache: bool = True) -> np.ndarray:
        """-> int32 [B, plan.max_new] global ids, each row ending with the end token (sampled, or inserted at
        the fixed length / the last step of the budget), then pad 0."""
        controls.validate()
        guided = uncond is not None and controls.guidance != 1.0
        batch = PromptBatch.concat(prompts, uncond) if guided else prompts
        if guided and uncond.rows != prompts.rows:
            raise ValueError(f"guidance needs one unconditional prompt per prompt, got {uncond.rows} for "
                             f"{prompts.rows}")
        longest = int(batch.lengths.max()) + plan.max_new
        if longest > self.max_seq_len:
            raise ValueError(f"prompt ({int(batch.lengths.max())} tokens) + {plan.max_new} new tokens exceed the "
                             f"model's max_seq_len {self.max_seq_len}; shorten the prompt or max length")
        args = dict(
            tokens=batch.tokens, modality=batch.modality, span_ids=batch.span_ids, lengths=batch.lengths,
            allowed=jnp.asarray(plan.allowed), end_id=np.int32(plan.end_id),
            fixed_len=np.int32(plan.fixed_len), min_new=np.int32(plan.min_new),
            target_mid=np.int32(plan.modality_id), temperature=np.float32(controls.temperature),
            top_k=np.int32(controls.top_k), top_p=np.float32(controls.top_p),
            guidance=np.float32(controls.guidance), key=jax.random.key(controls.seed))
        out = _generate_jit(self.graphdef, self.state, **args, max_new=plan.max_new, guided=guided,
                            use_cache=use_cache)
        return np.asarray(jax.device_get(out))


def _generate(graphdef, state, *, tokens, modality, span_ids, lengths, allowed, end_id, fixed_len, min_new,
              target_mid, temperature, top_k, top_p, guidance, key, max_new: int, guided: bool, use_cache: bool):
    """Prefill + while_loop; returns int32 [B, max_new] generated global ids (pad 0 after the end)."""
    model = nnx.merge(graphdef, state)
    R, P = tokens.shape
    B = R // 2 if guided else R
    S = P + max_new
    V = allowed.shape[-1]
    period = allowed.shape[0]
    ids = jnp.arange(V)
    rows = jnp.arange(R)
    seg = (jnp.arange(P)[None, :] < lengths[:, None]).astype(jnp.int32)
    pos = jnp.broadcast_to(jnp.arange(P, dtype=jnp.int32), (R, P))
    tm = jnp.full((R, 1), target_mid, jnp.int32)
    one = jnp.ones((R, 1), jnp.int32)

    if use_cache:
        h, mem = model(tokens, modality, MaskInfo(seg, pos, span_ids), cache=model.init_cache(R, S),
                       cache_index=0)
    else:
        def grow(x):
            return jnp.pad(x, ((0, 0), (0, max_new)))
        mem = (grow(tokens), grow(modality), grow(seg), grow(pos), grow(span_ids))
        h = model(tokens, modality, MaskInfo(seg, pos, span_ids))
    h_last = h[rows, lengths - 1]                                               # [R, D]

    def feed(mem, tok, t):
        """Writes token t of every row at slot P + t; returns its hidden state [R, D] and the memory."""
        p = (lengths + t)[:, None]
        if use_cache:
            h, mem = model(tok[:, None], tm, MaskInfo(one, p, 0 * one), cache=mem, cache_index=P + t)
            return h[:, 0], mem
        upd = (tok[:, None], tm, one, p, 0 * one)
        mem = tuple(jax.lax.dynamic_update_slice(m, u.astype(m.dtype), (0, P + t)) for m, u in zip(mem, upd))
        h = model(mem[0], mem[1], MaskInfo(*mem[2:]))
        return h[:, P + t], mem

    head = model.head()  # the output table, once for every step

    def body(carry):
        t, h_last, mem, out, done = carry
        logits = model.logits(h_last[:, None], tm, head)[:, 0]                    # [R, V]
        if guided:
            logits = filters.guide(logits[:B], logits[B:], guidance)
        fixed = fixed_len > 0
        last = t == max_new - 1                                                  # the budget's last step
        codes_ok = allowed[t % period] & jnp.where(fixed, t < fixed_len, ~last)
        end_ok = jnp.where(fixed, t == fixed_len, (t >= min_new) & (t % period == 0))
        mask = codes_ok | ((ids == end_id) & end_ok)
        tok = filters.choose(jax.random.fold_in(key, t), jnp.where(mask, logits, filters.NEG),
                             temperature, top_k, top_p)
        tok = jnp.where(last, end_id, tok)         # fixed length reached or budget spent: inserted, not sampled
        tok = jnp.where(done, 0, tok)
        out = jax.lax.dynamic_update_slice(out, tok[:, None], (0, t))
        done = done | (tok == end_id)
        h_last, mem = feed(mem, jnp.concatenate([tok, tok]) if guided else tok, t)
        return t + 1, h_last, mem, out, done

    def cond(carry):
        t, _, _, _, done = carry
        return (t < max_new) & ~jnp.all(done)

    init = (jnp.int32(0), h_last, mem, jnp.zeros((B, max_new), jnp.int32), jnp.zeros((B,), bool))
    return jax.lax.while_loop(cond, body, init)[3]


_generate_jit = jax.jit(_generate, static_argnames=("graphdef", "max_new", "guided", "use_cache"))


def strip(row: np.ndarray, plan: TargetPlan) -> np.ndarray:
    """One generated row -> its codes (global ids) without the end token or trailing padding."""
    row = np.asarray(row)
    hits = np.nonzero(row == plan.end_id)[0]
    n = int(hits[0]) if hits.size else int(np.cumprod(row != 0).sum())  # pad id 0 is never a code
    codes = row[:n]
    if plan.modality == "audio":
        codes = codes[:len(codes) - len(codes) % plan.period]  # whole frames only
    return codes
