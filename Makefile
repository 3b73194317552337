# vlmdata — set-up, main job and tests. The README's two commands are `make demo` and `make test`.
# Set-up is idempotent: a second run only checks the stamp file and returns in about a second.

VENV       ?= .venv
PYTHON     ?= python3
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.vlmdata-installed
# torch is pinned by a constraint, never by the package: 2.13.0 is the CPU wheel on the
# development machines and the CUDA build on GPU clusters.
CONSTRAINT ?= constraints-cpu.txt

.PHONY: setup demo test test-fast lint clean-outputs

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINT)
	@command -v $(PYTHON) >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINT) -e '.[dev]'
	@# The registry's torchvision is a CUDA build: on CPU torch it breaks transformers' image processors.
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.version.cuda is None else 1)"; then \
		$(PY) -m pip uninstall --quiet -y torchvision 2>/dev/null || true; fi
	$(PY) -c "import torch, transformers, pytorch_lightning, peft, diffusers, omegaconf, faiss; print('vlmdata set-up ok: torch', torch.__version__, '| transformers', transformers.__version__)"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/vlmdata demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

clean-outputs:
	rm -rf outputs
