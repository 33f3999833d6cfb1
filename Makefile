# Set-up, demo and tests. Every target builds the virtualenv first (tools/setup_env.sh; mmcv's wheel is cached).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
READY := $(VENV)/.spikeformer_mm-ready
DEMO_CONFIG := configs/meta_spikeformer/meta-spikeformer-tiny_digits.py

.PHONY: setup demo lint test

$(READY): setup.py tools/setup_env.sh
	SPIKEFORMER_VENV=$(abspath $(VENV)) bash tools/setup_env.sh
	touch $(READY)

setup: $(READY)

demo: $(READY)
	$(PYTHON) tools/train.py $(DEMO_CONFIG) --work-dir work_dirs/demo_digits

# ruff: pycodestyle, pyflakes and import order (pyproject.toml)
lint: $(READY)
	$(VENV)/bin/ruff check .

# One pytest process per test file (tools/run_tests.py), one OpenMP thread per process: several tests run
# 2 processes (torchrun) or subprocesses, and oversubscribed OpenMP threads spin-wait for each other (steps many
# times slower); override with OMP_NUM_THREADS=2 make test.
test: $(READY)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/run_tests.py
