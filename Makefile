# omni: `make demo` (the main job) and `make test` (the suite) each do all set-up themselves.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint clean-venv

setup: $(STAMP)

# Re-install whenever pyproject.toml changes; idempotent otherwise.
$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(VPY) -m pytest -q -n 2 --dist loadgroup tests

demo: setup
	$(VPY) launch/demo.py

lint: setup
	$(VPY) -m ruff check omni tokenizers launch configs tests

clean-venv:
	rm -rf $(VENV)
