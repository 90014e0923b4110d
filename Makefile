# bench: the study, its report, its tests and its images. `make` lists the targets.
# Two commands work on a fresh machine with nothing but python3.11:  make bench  and  make test

.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

DEVICE ?= cpu#         cpu or cuda
PRESET ?= smoke#       smoke, q1a, q1b, q2 or a path to a .toml
RUNNER ?= auto#        auto (container when ENGINE answers, else local), container or local
DATA ?= $(or $(BENCH_DATA_DIR),$(wildcard ../shared/data))#  the IDX files (empty: download)
# The smoke study is a newcomer's first command: it goes to a scratch store and site under build/
# (ignored by git), so `git status` stays clean; real presets write the committed results/ and site/.
SCRATCH := $(filter smoke,$(strip $(PRESET)))
STORE ?= $(if $(SCRATCH),build/smoke/results,results)
SITE ?= $(if $(SCRATCH),build/smoke/site,site)
ARTIFACTS ?= artifacts
PYTHON ?= python3.11
ENGINE ?= docker#      the container engine that builds and runs the images (docker or podman)
IMAGE ?= bench:$(DEVICE)
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
TORCH_CPU ?= auto#     auto: torch's CPU-only wheels from TORCH_INDEX_URL when DEVICE=cpu and pip reaches it; no
PYTEST_ARGS ?=

# DEVICE must be exactly one word, cpu or cuda: a typo must not start a long run on the wrong device.
DEVICE := $(strip $(DEVICE))
ifeq ($(filter-out cpu cuda,$(DEVICE))$(words $(DEVICE)),1)
else
$(error DEVICE must be cpu or cuda, not '$(DEVICE)')
endif
RUNNER := $(strip $(RUNNER))
ifeq ($(RUNNER),auto)
override RUNNER := $(shell timeout 20 $(ENGINE) info >/dev/null 2>&1 && echo container || echo local)
endif
ifeq ($(filter $(RUNNER),container local),)
$(error RUNNER must be auto, container or local, not '$(RUNNER)')
endif

VENV := .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/bench
STAMP := $(VENV)/.installed#            what running needs
TEST_STAMP := $(VENV)/.installed-test#  and the test tools and linters (the test extras)
TORCH_PINS = $$(grep -oE '"torch(vision)?==[^"]+"' pyproject.toml | tr -d '"')
DATA_ABS := $(if $(DATA),$(abspath $(DATA)))
COMMIT = $(shell git rev-parse --short=12 HEAD 2>/dev/null)
# A preset given as a file is mounted into the container at the same name under /presets.
PRESET_IN_IMAGE := $(if $(wildcard $(PRESET)),/presets/$(notdir $(PRESET)),$(PRESET))
CONTAINER = $(ENGINE) run --rm --user "$$(id -u):$$(id -g)" $(if $(filter cuda,$(DEVICE)),--gpus all) \
	-v "$(DATA_ABS):/data:ro" -v "$(abspath $(STORE)):/results" -v "$(abspath $(ARTIFACTS)):/artifacts"

.PHONY: help venv bench run report test check-results test-gpu gpu-carry gpu-session slurm-test lint image image-test perf step requirements clean

help: ## Show this help (variables: DEVICE, PRESET, RUNNER, ENGINE, DATA, STORE, SITE)
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  now: DEVICE=$(DEVICE) PRESET=$(PRESET) RUNNER=$(RUNNER) ENGINE=$(ENGINE) DATA=$(or $(DATA),<download>)"

venv: $(STAMP) ## Create .venv with what bench needs to run (again only when pyproject.toml changes)

# On a CPU machine torch's CPU-only wheels (about 1 GB less than the default CUDA build) when pip can
# reach TORCH_INDEX_URL; otherwise, and with TORCH_CPU=no, the index pip is configured with.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifeq ($(DEVICE)$(TORCH_CPU),cpuauto)
	if $(VENV)/bin/python -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX_URL)/torch/', timeout=10)" \
		2>/dev/null; then $(VENV)/bin/pip install --index-url $(TORCH_INDEX_URL) $(TORCH_PINS); \
	else echo "make: $(TORCH_INDEX_URL) not reachable: torch from pip's own index"; fi
endif
	$(VENV)/bin/pip install -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

bench: run report ## Run PRESET on DEVICE (in the image when RUNNER=container), then render the report
	@echo "report: $(abspath $(SITE))/index.html (and report.pdf); results in $(STORE)"

run: ## Only run PRESET on DEVICE (finished cells in STORE are skipped)


ifeq ($(RUNNER),container)
run: image
	@test -n "$(DATA_ABS)" || { echo "make: RUNNER=container needs DATA (the folder with the IDX files)" >&2; exit 1; }
	mkdir -p $(STORE) $(ARTIFACTS) $(SITE)
	$(CONTAINER) $(if $(wildcard $(PRESET)),-v "$(abspath $(PRESET)):$(PRESET_IN_IMAGE):ro") $(IMAGE) \
		run --preset $(PRESET_IN_IMAGE) --device $(DEVICE) --store /results --artifacts /artifacts

report: ## Rebuild SITE (HTML and PDF) from STORE
	mkdir -p $(SITE)
	$(CONTAINER) -v "$(abspath $(SITE)):/site" $(IMAGE) report --store /results --out /site
else
run: $(STAMP)
	$(BENCH) run --preset $(PRESET) --device $(DEVICE) --store $(STORE) --artifacts $(ARTIFACTS) \
		$(if $(DATA_ABS),--data-dir $(DATA_ABS))

report: $(STAMP)
	$(BENCH) report --store $(STORE) --out $(SITE)
endif

test: $(TEST_STAMP) ## Run the test suite (lint: make lint); the real-data tests use DATA, as make bench does
	$(if $(DATA_ABS),BENCH_DATA_DIR=$(DATA_ABS)) $(PY) -m pytest $(PYTEST_ARGS)

check-results: $(TEST_STAMP) ## Check the committed study (results/): it migrates, plans as done and reports its state
	$(PY) -m pytest checks $(PYTEST_ARGS)

test-gpu: $(TEST_STAMP) ## Run only the GPU tests (they skip, with a reason, without a CUDA GPU)
	$(PY) -m pytest -m cuda tests/test_gpu.py $(PYTEST_ARGS)

slurm-test: $(TEST_STAMP) ## As root: deploy/slurm's job array and merge on a one-node SLURM cluster here, checked
	$(if $(DATA_ABS),DATA=$(DATA_ABS)) bash deploy/slurm/ci-cluster.sh

gpu-carry: ## Here, before borrowing a GPU: the IDX files into data/ and the pure-Python wheels into build/gpu-wheels
	@test -n "$(DATA_ABS)" || { echo "make: gpu-carry needs DATA (the folder with the IDX files)" >&2; exit 1; }
	mkdir -p data/mnist data/fashion-mnist build/gpu-wheels
	install -m 644 $(DATA_ABS)/mnist/*.gz data/mnist/ && install -m 644 $(DATA_ABS)/fashion-mnist/*.gz data/fashion-mnist/
	$(VENV)/bin/pip download --no-deps -q -d build/gpu-wheels $$(grep -oE '"(ptflops|filelock|tqdm)==[^"]+"' pyproject.toml | tr -d '"')

gpu-session: ## On a GPU machine with a stock torch (no venv, no git): the study's GPU half into OUT (at most 9 min)
	PYTHONPATH=. BENCH_GIT_COMMIT=$(or $(BENCH_GIT_COMMIT),$(COMMIT)) $(or $(GPU_PYTHON),python3) \
		benchmarks/gpu_session.py --out $(or $(OUT),build/gpu-session) $(if $(DATA_ABS),--data-dir $(DATA_ABS))

lint: $(TEST_STAMP) ## ruff, hadolint, actionlint, schema checks, zizmor, shellcheck, kubernetes-validate, house rules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint docker/Dockerfile.cpu docker/Dockerfile.cuda
	$(VENV)/bin/actionlint
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/zizmor --offline --no-progress .github/workflows
	$(VENV)/bin/shellcheck .ci/run docker/*.sh deploy/slurm/*
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(PY) docker/pins.py --check
	$(PY) .ci/check_infra.py

image: ## Build the DEVICE image (bench:cpu or bench:cuda) with ENGINE
	$(ENGINE) build -f docker/Dockerfile.$(DEVICE) -t $(IMAGE) --build-arg GIT_COMMIT=$(COMMIT) \
		--build-arg IMAGE_NAME=$(IMAGE) $(if $(filter cpu,$(DEVICE)),--build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL)) .

image-test: ## Build the DEVICE image with docker or podman and test it (cpu: smoke study; cuda: all but the GPU)
	DEVICE=$(DEVICE) bash docker/image-test.sh

perf: $(TEST_STAMP) ## On an idle machine: the training loop (perf.py), then --workers auto vs 1 on five grids (workers.py)
	$(PY) benchmarks/perf.py
	$(if $(DATA_ABS),BENCH_DATA_DIR=$(DATA_ABS)) $(PY) benchmarks/workers.py --notebook

step: ## On an idle machine: the step experiment on DEVICE (benchmarks/step.py; .venv's Python, else GPU_PYTHON or python3)
	PYTHONPATH=. $(or $(GPU_PYTHON),$(if $(wildcard $(PY)),$(PY),python3)) benchmarks/step.py --device $(DEVICE)

requirements: ## Regenerate docker/requirements*.txt from pyproject.toml
	$(PYTHON) docker/pins.py

clean: ## Remove the venv and caches (never results/ or site/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
