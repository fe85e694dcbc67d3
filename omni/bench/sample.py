"""`bench.py sample`: decoding speed with the KV cache vs recomputing the prefix, text->image latency,
batch scaling.

    python launch/bench.py sample [--json] [--config demo] [--bundle B] [--new-tokens 512]
                                  [--batch-sizes 1,2,4,8] [--scaling-tokens 128] [--repeats 2]

Without --bundle the model is the config's architecture with random weights (speed does not depend on
training) and the text->image path uses random-weight tokenizers sized to the config. Token rates
include the prefill; every timed call is after a warm-up call with the same shapes (no compile time).
The recompute baseline is the same jitted loop without a cache: each step runs the whole fixed-shape
buffer (prompt + new tokens) through the model, as a no-cache decoder must to avoid recompiling per token.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import numpy as np
from flax import nnx
from omni_tokenizers.image import ImageAutoencoder, ImageTokenizer, ImageTokenizerConfig
from omni_tokenizers.text import TextTokenizer, TextTokenizerConfig

import omni
from omni.bench import BENCHMARKS
from omni.config import load_config
from omni.data import tasks
from omni.sampling.decode_loop import Controls, PromptBatch
from omni.sampling.loaded import LoadedModel
from omni.sampling.prompt import Tokens
from omni.sampling.random_weights import random_module, random_omni_model
from omni.sampling.spec import SamplingSpec
from omni.sampling.targets import plan_target

WORDS = ("goat", "cat", "red", "blue", "river", "hill", "runs", "sleeps", "small", "big", "tree", "sun")


def _time(fn, repeats: int) -> float:
    fn()  # compile + warm up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _fsq_levels(codes: int) -> tuple[int, ...]:
    """FSQ levels whose product is `codes` (a power of two): 8s, then one 4 or 2."""
    out, n = [], codes
    while n > 1:
        f = 8 if n % 8 == 0 else 4 if n % 4 == 0 else 2
        if n % f:
            raise ValueError(f"the bench's random image tokenizer needs vocab.image a power of two, got {codes}")
        out.append(f)
        n //= f
    return tuple(out)


def _random_tokenizers(cfg) -> dict:
    """Image tokenizer (64x64 -> 8x8 codes, vocab.image codes) and, when vocab.text >= 260, a text one."""
    ic = ImageTokenizerConfig(channels=(32, 64, 128), res_blocks=1, levels=_fsq_levels(cfg.vocab.image))
    out = {"image": ImageTokenizer(ic, model=random_module(lambda: ImageAutoencoder(ic, nnx.Rngs(0)), 1))}
    if cfg.vocab.text >= 260:
        rng = np.random.default_rng(0)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        words = ["".join(rng.choice(letters, int(rng.integers(2, 9)))) for _ in range(2000)] + list(WORDS)
        texts = [" ".join(rng.choice(words, 8)) + "." for _ in range(4000)]
        out["text"] = TextTokenizer.train(texts, TextTokenizerConfig(vocab_size=cfg.vocab.text))
    return out


def _loaded(config: str, bundle: str | None, max_len: int):
    if bundle:
        return omni.load(bundle, devices=jax.devices()[:1])
    cfg = load_config(config, [f"model.max_seq_len={max_len}"])
    toks = _random_tokenizers(cfg)
    n = toks["image"].tokens_per_item((64, 64, 3))
    spec = SamplingSpec(image_tokens=n, image_size=64, audio_quantizers=cfg.data.audio_quantizers,
                        audio_codebook=cfg.vocab.audio // cfg.data.audio_quantizers)
    return LoadedModel(random_omni_model(cfg, 0), cfg, spec, toks)


def _text_rate(lm, batch: int, new_tokens: int, repeats: int, use_cache: bool) -> float:
    """Tokens/s (all rows) generating exactly `new_tokens` text tokens per row (the end token is held off)."""
    vocab = lm.vocab
    plan = plan_target(vocab, lm.spec, "text", max_new_tokens=new_tokens - 1)
    plan = dataclasses.replace(plan, min_new=plan.max_new)  # never end early: a fixed amount of work
    rows = [tasks.prompt(vocab, "<task:lm>", [("text", np.arange(3, 11) + i)], "text") for i in range(batch)]
    pb = PromptBatch.pad(rows)
    d = lm.decoder()
    seconds = _time(lambda: d.generate(pb, plan, Controls(temperature=1.0, seed=0), use_cache=use_cache), repeats)
    return batch * plan.max_new / seconds


@BENCHMARKS.register("sample")
def run(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="bench.py sample")
    p.add_argument("--config", default="demo")
    p.add_argument("--bundle", default=None, help="measure an exported bundle instead of random weights")
    p.add_argument("--new-tokens", type=int, default=512)
    p.add_argument("--batch-sizes", default="1,2,4,8")
    p.add_argument("--scaling-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip-recompute", action="store_true")
    a = p.parse_args(argv)
    lm = _loaded(a.config, a.bundle, max_len=a.new_tokens + 64)
    out: dict = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
                 "cpu_count": os.cpu_count(), "config": lm.config.name,
                 "weights": "bundle" if a.bundle else "random", "new_tokens": a.new_tokens,
                 "params": int(sum(np.asarray(x).size for x in jax.tree.leaves(lm.decoder().state)))}
    cached = _text_rate(lm, 1, a.new_tokens, a.repeats, True)
    out["tokens_per_s_cached"] = round(cached, 2)
    if not a.skip_recompute:
        recompute = _text_rate(lm, 1, a.new_tokens, 1, False)
        out["tokens_per_s_recompute"] = round(recompute, 2)
        out["kv_cache_speedup"] = round(cached / recompute, 2)
    out["batch_scaling_tokens_per_s"] = {
        int(b): round(_text_rate(lm, int(b), a.scaling_tokens, a.repeats, True), 2)
        for b in a.batch_sizes.split(",") if b}
    prompt = "A goat on a hill." if "text" in lm.tokenizers else Tokens("text", np.arange(3, 11))
    out["text_to_image_latency_s"] = round(_time(
        lambda: omni.sample(lm, prompt, to="image", temperature=1.0, top_k=64, seed=0), a.repeats), 3)
    out["text_to_image_tokens"] = lm.spec.image_tokens
    out["text_prompt"] = "tokenized text" if "text" in lm.tokenizers else "text token ids (no text tokenizer)"
    return out
