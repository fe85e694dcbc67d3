# omni: `make demo` (the main job) and `make test` (the suite) each do all set-up themselves.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

LIBTPU := $(VENV)/libtpu-aot
LIBTPU_STAMP := $(LIBTPU)/.installed

CUDA_AOT := $(VENV)/cuda-aot
CUDA_AOT_STAMP := $(CUDA_AOT)/.installed

TF := $(VENV)/tensorflow
TF_STAMP := $(TF)/.installed

.PHONY: setup setup-tpu-compiler setup-gpu-compiler setup-tensorflow setup-accel test accel-check demo demo-bench lint clean-venv

setup: $(STAMP)

# The TPU compiler (libtpu, the version jax's `tpu` extra names) for `launch/plan.py` and its tests. It goes
# beside site-packages, not into it: jax would otherwise load it at every start on machines without a TPU
# and print warnings; omni.plan points TPU_LIBRARY_PATH at it only when compiling for a TPU.
setup-tpu-compiler: $(LIBTPU_STAMP)

$(LIBTPU_STAMP): $(STAMP)
	$(VPY) -m pip install -q --no-deps --upgrade --target $(LIBTPU) \
	  "$$($(VPY) -c 'import importlib.metadata as m; print(next(r.split(";")[0] for r in m.requires("jax") if r.startswith("libtpu")))')"
	@touch $(LIBTPU_STAMP)

# The CUDA compiler plugin (no CUDA libraries, 478 MB) for `launch/plan.py --topology h100-8`: compiles for an
# H100/H200 target without a GPU. Beside site-packages for the same reason as libtpu (omni/plan/gpu.py).
setup-gpu-compiler: $(CUDA_AOT_STAMP)

$(CUDA_AOT_STAMP): $(STAMP)
	v=$$($(VPY) -c 'import jax; print(jax.__version__)') && \
	  $(VPY) -m pip install -q --no-deps --upgrade --target $(CUDA_AOT) "jax-cuda12-plugin==$$v" "jax-cuda12-pjrt==$$v"
	@touch $(CUDA_AOT_STAMP)

# TensorFlow (CPU), which TFDS needs to construct most catalog builders (coco_captions, librispeech, ucf101):
# the test of configs/tfds_mixture.py runs on mock data in a process that puts it on PYTHONPATH. Beside
# site-packages so that no other program (or test) imports it; its four small pure-Python dependencies with it,
# the rest (numpy, protobuf, absl, ml_dtypes, ...) are the venv's own.
setup-tensorflow: $(TF_STAMP)

$(TF_STAMP): $(STAMP)
	$(VPY) -m pip install -q --no-deps --upgrade --target $(TF) "tensorflow-cpu==2.21.*" flatbuffers gast \
	  astunparse google-pasta
	@touch $(TF_STAMP)

# Re-install whenever pyproject.toml changes; idempotent otherwise.
$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: setup setup-tpu-compiler setup-gpu-compiler setup-tensorflow
	$(VPY) -m pytest -q -n 2 --dist loadgroup tests

# jax's runtime for the accelerator of this machine, into the venv, only where there is one: the CUDA 12 plugin
# with its libraries beside an NVIDIA GPU, libtpu beside a TPU. A failed install (no network) is reported and the
# check goes on with what is installed (launch/accel_check.py then says which backend jax found).
setup-accel: $(STAMP)
	@v=$$($(VPY) -c 'import jax; print(jax.__version__)'); \
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  $(VPY) -c 'import jax_cuda12_plugin' 2>/dev/null || $(VPY) -m pip install -q "jax[cuda12]==$$v" \
	    || echo "setup-accel: could not install jax[cuda12]==$$v"; \
	elif ls /dev/accel* /dev/vfio/[0-9]* >/dev/null 2>&1; then \
	  $(VPY) -c 'import libtpu' 2>/dev/null || $(VPY) -m pip install -q "jax[tpu]==$$v" \
	    || echo "setup-accel: could not install jax[tpu]==$$v"; \
	fi

# On a machine with a GPU or TPU: the gpu/tpu-marked tests compiled, bench.py attention, a short bench.py train
# --config base and bench.py sample, one JSON with every figure (runs/accel_check.json), within 8 minutes.
# On a CPU-only machine it says so and exits 0.
accel-check: setup setup-accel
	$(VPY) launch/accel_check.py

demo: setup
	$(VPY) launch/demo.py

# `make demo` and then the tokenizer benchmark on its tokenizers (with the fullres image fit it measures): the
# finished stages are reused, so after `make demo` this runs only the two benchmark stages (~15 minutes on 2 cores).
demo-bench: setup
	$(VPY) launch/demo.py --benchmarks

lint: setup
	$(VPY) -m ruff check omni tokenizers launch configs tests

clean-venv:
	rm -rf $(VENV)
