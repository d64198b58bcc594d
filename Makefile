# hf_emotion: two commands on a fresh machine.
#   make demo   set up, make the synthetic corpus, train + evaluate a demo tucker_av, write outputs
#   make test   set up, lint, run the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
# e.g. make demo DEMO_FLAGS=--overwrite (a previous demo_output is never replaced silently)
DEMO_FLAGS ?=

.PHONY: setup ffmpeg test lint demo bench clean

setup: ffmpeg $(STAMP)

# FFmpeg's shared libraries are what torchcodec (and datasets' Audio/Video decoding) load.
ffmpeg:
	@if command -v ffmpeg >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q libavcodec; then \
		echo "ffmpeg: found $$(command -v ffmpeg)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "ffmpeg: installing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	else \
		echo "FFmpeg (with its shared libraries) is missing. Install it, e.g. 'sudo apt-get install ffmpeg'" \
		     "(Debian/Ubuntu) or 'brew install ffmpeg' (macOS), then run make again."; \
		exit 1; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -e '.[all,dev]'  # every optional extra: the tests cover them all
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(VENV)/bin/pytest -q tests

demo: setup
	$(VENV)/bin/hf-emotion demo --output-dir $(DEMO_DIR) $(DEMO_FLAGS)

bench: setup
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
