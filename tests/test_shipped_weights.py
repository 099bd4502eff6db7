"""The shipped weights (``weights/``): each component loads through ``Pipeline.from_pretrained()``, beats
the baseline its plan names on the test items ``make weights`` checked, and the card says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amodal_compose import Pipeline
from amodal_compose.pretrained import SIZE_LIMIT, check_component, read_plan, recipe_datamodule

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
CARD = json.loads((WEIGHTS / "card.json").read_text())["components"]


def test_the_set_fits_and_its_card_matches_its_files():
    files = sorted(p.stem for p in WEIGHTS.glob("*.ckpt"))
    assert files == sorted(CARD) == sorted(json.loads((WEIGHTS / "pipeline.json").read_text())["components"])
    assert sum(p.stat().st_size for p in WEIGHTS.glob("*.ckpt")) <= SIZE_LIMIT
    readme = (WEIGHTS / "README.md").read_text()
    assert all(f"| {name} |" in readme for name in CARD)


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.from_pretrained(WEIGHTS)


@pytest.mark.parametrize("name", sorted(CARD))
def test_each_shipped_component_beats_its_baseline(pipe, name):
    recipe, record = read_plan()[name], CARD[name]
    datamodule = recipe_datamodule(recipe, record["seed"], ["--data.init_args.num_workers", "0"])
    result = check_component(pipe.components[name], datamodule, recipe.check, record["check"]["items"])
    assert result["items"] == record["check"]["items"]
    assert result["model"] > result["baseline"], f"{name}: {result}"
    # the card's numbers are the shipped float16 weights' own
    assert result["model"] == pytest.approx(record["check"]["model"], abs=1e-3)
    assert result["baseline"] == pytest.approx(record["check"]["baseline"], abs=1e-4)
