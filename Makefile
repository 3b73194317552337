# vlmdata — set-up, main job and tests. The README's two commands are `make demo` and `make test`.
# The set-up installs the venv from the lock (lock/cpu.txt: every package at an exact version) and
# checks that the venv is the lock on every run; with an unchanged lock it takes about a second.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# lock/cpu.txt on CPU machines; `make setup LOCK=lock/cuda.txt` on a GPU cluster (same packages,
# torch's CUDA build and its CUDA libraries). `make lock` re-resolves both.
LOCK   ?= lock/cpu.txt
STAMP  := $(VENV)/.vlmdata-installed-$(notdir $(LOCK))

.PHONY: setup sync lock demo test test-fast lint clean-outputs

setup: $(STAMP)
	@$(PY) lock/check.py --lock $(LOCK)

$(STAMP): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null && $(PYTHON) -c "import ensurepip" 2>/dev/null || { \
		apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip; }
	@$(PY) -c "" 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PIP) install --quiet --no-deps -r $(LOCK)
	@# what the lock does not list goes: an old venv's leftovers, torchvision, hand installs
	$(PY) lock/check.py --lock $(LOCK) --extras | xargs -r $(PIP) uninstall --quiet -y
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import torch, transformers, pytorch_lightning, peft, diffusers, omegaconf, faiss, lmms_eval; print('vlmdata set-up ok: torch', torch.__version__, '| transformers', transformers.__version__)"
	rm -f $(VENV)/.vlmdata-installed*
	touch $(STAMP)

# reinstall the venv from the lock (the repair that lock/check.py names)
sync:
	rm -f $(STAMP)
	$(MAKE) setup

# re-resolve every dependency from pyproject.toml + lock/constraints.txt; then run `make sync test`
lock:
	$(PYTHON) lock/resolve.py

demo: setup
	$(VENV)/bin/vlmdata demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# what CI checks before the tests: lint rules and the formatter (line length 100, pyproject.toml)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-outputs:
	rm -rf outputs
