"""Configs: loading by path/name, dotted overrides, validation errors, JSON round trip, size report."""
import pytest

from omni.config import DEFAULT_TASK_TOKENS, ConfigError, apply_overrides, config_from_json, config_to_json, load_config
from omni.model import model_stats


def test_load_by_name_and_path_with_overrides(repo_root):
    a = load_config("tiny", ["model.d_model=96", "steps=7", "train.learning_rate=1e-4",
                             "model.untie_ffn=false", "model.dtype=bfloat16"])
    b = load_config(str(repo_root / "configs" / "tiny.py"), ["steps=7"])
    assert (a.model.d_model, a.steps, a.train.learning_rate, a.model.untie_ffn) == (96, 7, 1e-4, False)
    assert a.model.dtype == "bfloat16" and b.steps == 7 and b.model.d_model == 64


@pytest.mark.parametrize("override, message", [
    ("model.d_modle=3", "unknown config key 'model.d_modle'"),
    ("nosuch=1", "unknown config key 'nosuch'"),
    ("model.d_model=abc", "expected an integer"),
    ("model.dtype=float16", "expected one of"),
    ("model.untie_ffn=maybe", "expected a boolean"),
    ("model.n_kv_heads=3", "multiple of model.n_kv_heads"),
    ("model", "must look like key=value"),
    ("model=1", "is a section"),
    ("train.seq_len=4096", "exceeds model.max_seq_len"),
    ("mesh.data=-1", None),
    ('train.loss_weights=[["txt",4]]', "train.loss_weights name each modality"),
    ('train.loss_weights=[["text",4],["text",2]]', "train.loss_weights name each modality"),
    ('train.loss_weights=[["text",0]]', "train.loss_weights must be finite and > 0, got text=0.0"),
    ('train.loss_weights=[["text",4],["image",0.5]]', None),
])
def test_bad_overrides_give_clear_errors(override, message):
    if message is None:
        load_config("tiny", [override])
        return
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config("tiny", [override])


def test_tuple_overrides_in_comma_and_json_forms():
    tokens = (*DEFAULT_TASK_TOKENS, "<task:a>", "<task:b>")
    a = load_config("tiny", ["vocab.task_tokens=" + ",".join(tokens)])
    assert a.vocab.task_tokens == tokens
    b = load_config("tiny", ['data.mixture=[["single", 2]]'])
    assert b.data.mixture == (("single", 2.0),)
    with pytest.raises(ConfigError, match="expected a number"):
        load_config("tiny", ["data.mixture=[[\"single\", \"x\"]]"])
    from configs.tokenizers_audio import get_config as audio_preset
    one = apply_overrides(audio_preset("tiny"), ["eval_quantizers=2", "adversarial.periods=3"])
    assert one.eval_quantizers == (2,) and one.adversarial.periods == (3,)  # one item needs no comma
    assert apply_overrides(audio_preset("tiny"), ["adversarial.periods="]).adversarial.periods == ()


def test_unknown_config_name_lists_available():
    with pytest.raises(ConfigError, match="available"):
        load_config("nonexistent_size")


def test_json_round_trip_and_unknown_keys():
    cfg = load_config("demo", ["data.mixture=[[\"single\", 1.0]]"])
    assert config_from_json(config_to_json(cfg)) == cfg
    bad = config_to_json(cfg).replace('"d_model"', '"d_mdl"')
    with pytest.raises(ConfigError, match="d_mdl"):
        config_from_json(bad)


def test_all_sizes_report_params_and_flops():
    expect_active = {"tiny": (0.05e6, 0.5e6), "demo": (1e6, 10e6), "base": (250e6, 400e6),
                     "1b": (0.9e9, 1.4e9), "7b": (6.0e9, 7.5e9)}
    for name, (lo, hi) in expect_active.items():
        cfg = load_config(name)
        s = model_stats(cfg)
        assert lo <= s.active_params <= hi, (name, s.active_params)
        assert s.total_params > s.active_params  # MoT: each modality owns its copy
        assert s.train_flops_per_token == pytest.approx(3 * s.forward_flops_per_token)
    c7 = load_config("7b")
    assert (c7.model.d_model, c7.model.n_layers, c7.model.n_heads, c7.model.max_seq_len) == (4096, 32, 32, 4096)
    assert c7.vocab.build().size == 65536
    dense = load_config("tiny", ["model.untie_attention=false", "model.untie_ffn=false", "model.untie_norms=false"])
    assert model_stats(dense).train_flops_per_token == model_stats(load_config("tiny")).train_flops_per_token
    # the grouped head multiplies by the widest modality slice instead of the whole vocabulary
    tiny = load_config("tiny")
    ranges = tiny.vocab.build().head_ranges()
    widest, D = int((ranges[:, 1] - ranges[:, 0]).max()), tiny.model.d_model
    grouped = model_stats(load_config("tiny", ["model.grouped_head=true"]))
    assert model_stats(tiny).forward_flops_per_token - grouped.forward_flops_per_token == \
        2 * D * (tiny.vocab.build().size - widest)
    assert grouped.active_params == model_stats(tiny).active_params


def _leaves(cls, prefix=""):
    import dataclasses
    for f in dataclasses.fields(cls):
        tp = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if tp is not None and dataclasses.is_dataclass(tp):
            yield from _leaves(tp, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, f.metadata.get("help", "")


def test_demo_code_levels_are_its_tokenizers_levels():
    # model.code_levels reads a code id as the FSQ digits of the tokenizer that made it: the demo model's levels
    # must be the demo tokenizer presets' (a product that still matches the vocabulary would hide a mismatch)
    from omni_tokenizers import trainers

    levels = dict(load_config("demo").model.code_levels)
    assert levels == {m: tuple(trainers.preset(m, "demo").model.levels) for m in ("image", "video")}
    json_form = load_config("tiny", ['model.code_levels=[["image", [4, 4, 4]]]'])
    assert json_form.model.code_levels == (("image", (4, 4, 4)),)


@pytest.mark.parametrize("modality", ["text", "image", "audio", "video"])
def test_tokenizer_job_fields_say_what_they_mean(modality):
    from omni_tokenizers import trainers

    job = trainers.preset(modality, "tiny")
    missing = [k for k, h in _leaves(type(job)) if not h]
    assert not missing, f"{type(job).__name__} fields without help: {missing}"


def test_every_field_says_what_it_means_and_errors_print_it():
    from omni.config import Config

    missing = [k for k, h in _leaves(Config) if not h]
    assert not missing, f"config fields without help: {missing}"
    with pytest.raises(ConfigError, match=r"train.batch_size: expected an integer, got 'x' \(train.batch_size: "
                                          r"global rows per step"):
        load_config("tiny", ["train.batch_size=x"])
    with pytest.raises(ConfigError, match=r"model.head_dim must be even for RoPE, got 3 \(model.head_dim: width"):
        load_config("tiny", ["model.head_dim=3", "model.d_model=12", "model.n_heads=4"])


def test_a_registered_modality_gets_its_vocab_key():
    """omni.modality is the single source: a modality registered before the config is imported has
    `vocab.<name>`, a vocabulary range and target weight of its own."""
    import subprocess
    import sys
    code = ("from omni import modality; modality.register('depth', codes=48, help='codes of the depth tokenizer')\n"
            "from omni.config import load_config\n"
            "cfg = load_config('tiny', ['vocab.depth=40'])\n"
            "v = cfg.vocab.build()\n"
            "print(cfg.vocab.depth, v.num_codes('depth'), dict(cfg.data.target_weights)['depth'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["40", "40", "1.0"]
