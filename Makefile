# The two commands of the README: `make demo` (set up and run the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLES = $$($(PY) -c "import data_store, pydicom.data, pathlib; \
  print(pathlib.Path(pydicom.data.__file__).parent / 'test_files', pathlib.Path(data_store.__file__).parent / 'data')")

# Debian packages: what the PDF engine needs at run time, and the real DICOM peers and validators of the tests.
RUNTIME_DEBS = libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
TEST_DEBS = dicom3tools dcmtk orthanc orthanc-dicomweb chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-runtime system-test debs demo samples test lint unit bench models clean

setup: $(VENV)/.installed system-runtime

system-runtime:
	@$(MAKE) --no-print-directory debs DEBS="$(RUNTIME_DEBS)"

system-test:
	@$(MAKE) --no-print-directory debs DEBS="$(TEST_DEBS)"

# Install the Debian packages in DEBS that are missing (apt-get; as root, or with sudo).
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,train,service]"
	touch $@

## The main job: generate a small synthetic trial (phantom), analyse it with the shipped models (a summary per
## subject, visit and leg; report.json, masks, HTML/PDF, SR and SEG under demo-out/analysis), and score it
## against the truth.
demo: setup
	$(VENV)/bin/dvt-us phantom trial --subjects 1 --visits 2 --protocol short --out demo-out/trial
	$(VENV)/bin/dvt-us analyze demo-out/trial/dicom --out demo-out/analysis --jobs 2
	$(VENV)/bin/dvt-us score demo-out/analysis demo-out/trial

## What dvt-us reads from the real ultrasound files bundled with pydicom and pydicom-data.
samples: setup
	$(VENV)/bin/dvt-us inspect --ultrasound-only $(SAMPLES)

lint: setup
	$(VENV)/bin/ruff check dvt_us tests benchmarks training
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## The tests, spread over up to 4 processes (a module's tests stay in one process, sharing its fixtures).
unit: setup system-test
	$(PY) -m pytest -n logical --maxprocesses 4 --dist loadscope

## Everything CI runs.
test: lint unit

bench: setup system-test
	$(PY) benchmarks/decode_benchmark.py
	$(PY) benchmarks/phantom_benchmark.py
	$(PY) benchmarks/inference_benchmark.py
	$(PY) benchmarks/stow_benchmark.py
	$(PY) benchmarks/service_benchmark.py

## Retrain and publish the shipped models on CPU (about 1.5 h on 2 cores), then evaluate them on a phantom
## test trial whose seed is used neither for training nor for model selection.
models: setup
	$(VENV)/bin/dvt-us train configs/train/vein-seg.yaml
	$(VENV)/bin/dvt-us export runs/vein-seg-0.1.0 --out models/vein-seg/0.1.0
	$(VENV)/bin/dvt-us train configs/train/compressibility.yaml
	$(VENV)/bin/dvt-us export runs/compressibility-0.1.0 --out models/compressibility/0.1.0
	$(VENV)/bin/dvt-us phantom trial --subjects 3 --seed 3000 --out .cache/test-phantom-3x3000
	$(VENV)/bin/dvt-us evaluate models/vein-seg/0.1.0 .cache/test-phantom-3x3000 --record
	$(VENV)/bin/dvt-us evaluate models/compressibility/0.1.0 .cache/test-phantom-3x3000 --segmentation models/vein-seg/0.1.0 --record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-out
