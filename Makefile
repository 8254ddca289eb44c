# cinescope: every target bootstraps .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CINESCOPE_HOME ?= $(CURDIR)/var
export DVC_NO_ANALYTICS := 1

.PHONY: venv browser speech-tools demo test test-distributed lint bench train up down clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# setuptools warns on every editable install that ops/ and models/ sit in the working tree (they must).
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# PySceneDetect (benchmark baseline) depends on the GUI OpenCV build; keep the headless one.
	$(PY) -m pip install --quiet --no-deps scenedetect==0.7.2
	# PP-OCR likewise asks for the GUI OpenCV; its other dependencies are in pyproject.toml.
	$(PY) -m pip install --quiet --no-deps rapidocr_onnxruntime==1.4.4
	$(PY) -m ops.warmup
	touch $(STAMP)

venv: $(STAMP)

demo: venv speech-tools
	$(BIN)/cinescope demo

# Debian packages the tests and the demo use, installed when missing (needs root and apt).
define apt_install
{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null || \
    { apt-get update -q >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null; }; }; }
endef

# The curation page's browser test drives Debian's chromium.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  $(call apt_install,chromium chromium-driver) || \
	  echo "chromium could not be installed (needs root and apt): the browser test will skip"

# Speech is tested on, and the demo's spoken clip made of, speech synthesised by espeak-ng.
speech-tools:
	@command -v espeak-ng >/dev/null || $(call apt_install,espeak-ng) || \
	  echo "espeak-ng could not be installed (needs root and apt): speech tests will skip"

test: venv browser speech-tools
	$(PY) -m pytest

# The distributed mode on this machine's PostgreSQL and Redis: Airflow's scheduler, API server,
# DAG processor and two Celery workers, and an MLflow server, all from .venv (skips without them).
# About 13 minutes; the first test also waits for the cluster and the pipeline, hence its timeout.
DISTRIBUTED_STAMP := $(VENV)/.distributed
$(DISTRIBUTED_STAMP): $(STAMP)
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -c constraints.txt -e '.[dev,distributed]'
	touch $@

test-distributed: $(DISTRIBUTED_STAMP)
	$(PY) -m pytest tests/distributed -m distributed -p no:cacheprovider --timeout=1500

lint: venv
	$(BIN)/ruff check ops models dags tests benchmarks
	$(BIN)/ruff format --check ops models dags tests benchmarks
	$(BIN)/mypy

train: venv
	$(BIN)/cinescope scene demo-data
	$(BIN)/cinescope genre demo-data
	$(BIN)/cinescope mood demo-data
	$(BIN)/cinescope scene data-root
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro

bench: venv
	$(PY) -m benchmarks.run_all

up: venv
	$(BIN)/cinescope up

down: venv
	$(BIN)/cinescope down

clean:
	rm -rf var
