# amodal_compose: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
OUT    ?= demo_out
BENCH  ?= all
SEEDS  ?= 1

export NO_ALBUMENTATIONS_UPDATE := 1
export WANDB_MODE ?= offline
export WANDB_SILENT := true
export PYTHONHASHSEED := 0

.PHONY: install test test-slow demo weights bench results lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel >/dev/null

# torch first (the CPU wheel), so the package's torch range installs nothing more.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -e ".[dev,photos,wandb]"
	@$(BIN)/python -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

install: $(VENV)/.installed

test: install
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -m "not slow and not gpu" -q

# training each network for about a minute and checking it beats its weakest baseline on held-out data
test-slow: install
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -m slow -q

demo: install
	$(BIN)/amodal-compose demo --out $(OUT) $(if $(RETRAIN),--retrain)

# the shipped weights: every component trained by its recipe in lightning_configs/weights/, checked, float16
WEIGHTS ?=
weights: install
	$(BIN)/amodal-compose weights --out weights --components "$(WEIGHTS)"

# RESUME=1: reuse the trainings an interrupted run finished (same recipe, arguments and code)
RESUME ?=
bench: install
	$(BIN)/amodal-compose bench --task $(BENCH) --seeds $(SEEDS) --out reports $(if $(RESUME),--resume)

# merge reports/bench.json into docs/results.{json,md}, the committed home of every result
results: install
	$(BIN)/amodal-compose bench report --out reports --docs docs

lint: install
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache reports previews $(OUT) lightning_logs wandb
