"""Config fuzz: every field of every config in configs/ set to each hostile value, plus cross-field
violations. Each either passes everything a run checks before it starts (validation, the 8-device mesh
and batch layout, the data source, the abstract model or tokenizer network) or fails with one ConfigError
naming the key; a handful go through the CLIs, which must exit 2 with one `config error:` line and create
no run dir."""
import dataclasses
import inspect
import math
import pathlib
import subprocess
import sys

import pytest

from omni.config import Config, ConfigError, apply_overrides, call_config_file, exec_config_file, load_config
from omni.model import model_stats

ROOT = pathlib.Path(__file__).resolve().parent.parent
VALUES = ("-1", "0", "nan", "inf", "1e30", "abc", "[]")


def _jobs():
    """(name, config object) for every config file: model configs, and tokenizer jobs per preset."""
    for path in sorted((ROOT / "configs").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = exec_config_file(path, "fuzz")
        get = module.get_config
        if not inspect.signature(get).parameters:
            yield path.stem, call_config_file(path, get)
        else:  # configs/tokenizers_MODALITY.py: get_config(preset), its PRESETS where it has more than these
            for a in getattr(module, "PRESETS", ("tiny", "demo", "base")):
                yield f"{path.stem}:{a}", call_config_file(path, get, a)


JOBS = dict(_jobs())


def _leaves(cfg, prefix=""):
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            yield from _leaves(v, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


def _non_finite(cfg) -> list[str]:
    """Float leaves (tuples included) that are NaN or inf: a run would apply them as given."""
    def walk(v, key):
        if dataclasses.is_dataclass(v):
            for f in dataclasses.fields(v):
                yield from walk(getattr(v, f.name), f"{key}.{f.name}".lstrip("."))
        elif isinstance(v, tuple):
            for i, x in enumerate(v):
                yield from walk(x, f"{key}[{i}]")
        elif isinstance(v, float) and not math.isfinite(v):
            yield key
    return list(walk(cfg, ""))


def _runnable(cfg, key: str, sources: bool = False):
    """What a run checks before creating anything (omni.train.mesh.plan_run), on this process's 8 devices;
    the data source where it is synthetic or `sources` (token dirs of the big configs are not built here)."""
    from flax import nnx

    from omni.model import build_model
    from omni.train.mesh import plan_run
    plan_run(cfg, ("train", "validation") if sources or cfg.data.source == "synthetic" else ())
    model_stats(cfg)
    if key.startswith(("model.", "vocab.")):
        nnx.eval_shape(lambda: build_model(cfg))


def _tokenizer_model(job):
    """Builds a tokenizer job's network abstractly (shapes only): what its constructor refuses, a run would."""
    from flax import nnx
    from omni_tokenizers.audio.codec import AudioCodec
    from omni_tokenizers.image import ImageAutoencoder
    from omni_tokenizers.video import VideoAutoencoder
    build = {"AudioCodecConfig": lambda c: AudioCodec(c, rngs=nnx.Rngs(0)),
             "ImageTokenizerConfig": lambda c: ImageAutoencoder(c, nnx.Rngs(0)),
             "VideoTokenizerConfig": lambda c: VideoAutoencoder(c, nnx.Rngs(0))}.get(type(job.model).__name__)
    if build is not None:  # text: SentencePiece, nothing to build before training
        nnx.eval_shape(lambda: build(job.model))


def test_configs_directory_is_covered():
    assert {"tiny", "demo", "base", "1b", "7b"} <= set(JOBS)
    assert {f"tokenizers_{m}:{p}" for m in ("text", "image", "audio", "video") for p in ("tiny", "demo", "base")} \
        <= set(JOBS)
    assert "tokenizers_image:fullres" in JOBS


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_field_runs_or_is_refused_naming_its_key(name):
    base = JOBS[name]
    is_model = isinstance(base, Config)  # tokenizer jobs have a mesh section too, but no MoT to build
    failures, accepted = [], 0
    for key in _leaves(base):
        for value in VALUES:
            try:
                cfg = apply_overrides(base, [f"{key}={value}"])
                if _non_finite(cfg):
                    failures.append(f"{key}={value}: accepted, leaving {_non_finite(cfg)} non-finite")
                    continue
                if is_model:
                    _runnable(cfg, key)
                elif key.startswith("model.") and "tiny" in name:
                    _tokenizer_model(cfg)
                accepted += 1
            except ConfigError as e:
                msg = str(e)
                if key not in msg or "\n" in msg:
                    failures.append(f"{key}={value}: error does not name {key!r} on one line: {msg}")
            except Exception as e:  # noqa: BLE001 -- anything else escapes as a traceback from a CLI
                failures.append(f"{key}={value}: {type(e).__name__}: {e}")
    assert not failures, f"{len(failures)} problems in {name}:\n" + "\n".join(failures[:20])
    assert accepted  # sanity: the fuzz is not refusing everything


@pytest.mark.parametrize("overrides, key", [
    (["train.seq_len=256"], "train.seq_len"),                        # > model.max_seq_len
    (["model.n_kv_heads=3"], "model.n_kv_heads"),                    # does not divide n_heads
    (["train.grad_accum=3"], "train.grad_accum"),                    # does not divide batch_size
    (["data.max_example_tokens=256"], "data.max_example_tokens"),    # > train.seq_len
    (["vocab.audio=3", "data.audio_quantizers=2"], "vocab.audio"),   # too few synthetic audio codes
    (['mesh.rules=[["batch", "nosuch"]]'], "mesh.rules"),            # not a mesh axis
    (["vocab.task_tokens=<task:lm>"], "vocab.task_tokens"),          # the pipeline's task tokens are gone
    (["mesh.data=3"], "mesh.data"),                                  # 3 != 8 devices
    (["mesh.fsdp=16"], "mesh.fsdp"),                                 # 8 devices do not fill 16
    (["mesh.devices=9"], "mesh.devices"),                            # only 8 exist
    (["train.batch_size=6"], "train.batch_size"),                    # not a multiple of 8 batch shards
    (["train.batch_size=8", "train.grad_accum=2"], "train.batch_size"),  # 4-row micro-batches on 8 shards
    (["data.source=tokens"], "data.token_dir"),                      # no token_dir
    (["data.source=tokens", "data.token_dir=/nonexistent/tokens"], "data.token_dir"),  # nothing there
    (["run_dir= "], "run_dir"),
    (["seed=-1"], "seed"),
])
def test_cross_field_violations_name_a_key(overrides, key):
    with pytest.raises(ConfigError) as e:
        _runnable(load_config("tiny", overrides), "model.x", sources=True)
    assert key in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("job, overrides, key", [
    ("tokenizers_audio:tiny", ["segment_seconds=1000"], "segment_seconds"),  # > model.max_seconds
    ("tokenizers_audio:tiny", ["eval_quantizers=1,9"], "eval_quantizers"),   # > model.num_quantizers
    ("tokenizers_video:tiny", ["model.frame_size=30"], "model.frame_size"),  # not a multiple of the downsampling
    ("tokenizers_image:tiny", ["model.max_side=2"], "model.max_side"),       # below the downsampling
])
def test_tokenizer_cross_field_violations_name_a_key(job, overrides, key):
    with pytest.raises(ConfigError) as e:
        apply_overrides(JOBS[job], overrides)
    assert key in str(e.value)


def test_nan_and_inf_in_a_config_file_are_refused(tmp_path):
    f = tmp_path / "nan_lr.py"
    f.write_text("import dataclasses\nfrom omni.config import load_config\n\n"
                 "def get_config():\n    c = load_config('tiny')\n"
                 "    return dataclasses.replace(c, train=dataclasses.replace(c.train, learning_rate=float('nan')))\n")
    with pytest.raises(ConfigError, match=r"train\.learning_rate: expected a finite number"):
        load_config(str(f))
    with pytest.raises(ConfigError, match=r"data\.mixture\[0\]\[1\]: expected a finite number"):
        load_config("tiny", ['data.mixture=[["single", Infinity]]'])


def test_config_files_that_do_not_run_name_file_and_line(tmp_path):
    bad = tmp_path / "syntax.py"
    bad.write_text("def get_config(:\n    pass\n")
    with pytest.raises(ConfigError, match=r"syntax\.py:1: syntax error"):
        load_config(str(bad))
    boom = tmp_path / "boom.py"
    boom.write_text("def get_config():\n    return 1 / 0\n")
    with pytest.raises(ConfigError, match=r"boom\.py: get_config\(\) fails: line 2: ZeroDivisionError"):
        load_config(str(boom))
    other = tmp_path / "other.py"
    other.write_text("def get_config():\n    return {'steps': 3}\n")
    with pytest.raises(ConfigError, match="must return an omni.config.Config, got dict"):
        load_config(str(other))


def _cli(script: str, *args: str, cwd: pathlib.Path):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(ROOT / "launch" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_config_errors_exit_2_with_one_line_and_no_run_dir(tmp_path):
    """The issue's contract on 8 devices; each case would otherwise surface only once JAX is up."""
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def get_config(:\n")
    cases = [
        (["--config", "tiny", "mesh.data=3"], "mesh.data=3"),
        (["--config", "tiny", "train.batch_size=6"], "train.batch_size"),
        (["--config", "tiny", "train.learning_rate=nan"], "train.learning_rate"),
        (["--config", str(syntax)], "syntax.py:1"),
        (["--config", "tiny", "data.source=tokens", f"data.token_dir={tmp_path / 'none'}"], "data.token_dir"),
    ]
    for args, key in cases:
        run_dir = tmp_path / "run"
        r = _cli("train.py", *args, "--no-progress", f"run_dir={run_dir}", cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("config error:") and key in lines[0], (args, r.stderr)
        assert not run_dir.exists(), args
    r = _cli("train_tokenizer.py", "--modality", "audio", "--config", "tiny", "model.ema_decay=1",
             "--data", "synthetic", "--out", str(tmp_path / "tok"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "config error: model.ema_decay: audio codec ema_decay must be in (0, 1), got 1.0 "
        "(model.ema_decay: EMA decay of the codebook updates)"], r.stderr  # the key's help ends the line
    assert not (tmp_path / "tok").exists()
    for args, key in ((["--config", "tiny"], "--probes: the runs must train on token shards"),
                      (["--probes", "-1"], "--probes: expected a number of held-out examples >= 0")):
        r = _cli("study_mot.py", *args, "--out", str(tmp_path / "study"), cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and key in lines[0], (args, r.stderr)
        assert not (tmp_path / "study").exists()
    for args, key in ((["--config", "tiny"], "must train on token shards"), (["--seeds", "1"], "--seeds: expected"),
                      (["--probes", "0"], "--probes: expected a number of held-out examples >= 1")):
        r = _cli("study_seeds.py", *args, "--out", str(tmp_path / "seeds"), cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and key in lines[0], (args, r.stderr)
        assert not (tmp_path / "seeds").exists()
