"""Task ``ordering``: pairwise occlusion-ordering accuracy of the ``area`` and ``y-axis`` heuristics on
held-out scenes (PCNet Table 1). As in PCNet (Table 1, footnote 1) the direction of ``area`` is chosen
per data set, here on training scenes, never on the test scenes. Recipe:
``lightning_configs/bench/ordering.yaml`` (its ``data`` section: scene size and counts)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..baselines import BASELINES
from ..metrics import OrderingAccuracy
from .runner import BenchContext, Task, instantiate, make_row, read_recipe


def ordering_accuracy(fn: Callable, scenes) -> float:
    """Pairwise accuracy of ``fn(modal_masks, image) -> order`` over ``scenes``."""
    m = OrderingAccuracy()
    for s in scenes:
        if len(s) > 1:
            m.update(fn(s.modal_masks(), s.image), s.order)
    return float(m.compute())


def heuristic_rows(train_scenes, test_scenes, task: str, image_size: int) -> list[dict]:
    """One row per ordering heuristic, the ``area`` direction chosen on ``train_scenes``."""
    area = BASELINES["ordering"]["area"]
    larger_first = ordering_accuracy(partial(area, larger_in_front=True), train_scenes)
    larger = larger_first > ordering_accuracy(area, train_scenes)
    rows = []
    for name, fn in BASELINES["ordering"].items():
        if name == "area":
            fn = partial(fn, larger_in_front=larger)
            name = f"area ({'larger' if larger else 'smaller'} in front)"
        rows.append(make_row(task, name, "pair_accuracy", [ordering_accuracy(fn, test_scenes)], image_size=image_size))
    return rows


class OrderingTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        dm = instantiate(read_recipe(ctx.recipes / self.recipe)["data"])
        return heuristic_rows(dm.scenes("train"), dm.scenes("test"), self.name, dm.image_size)


TASK = OrderingTask("ordering", "ordering.yaml")
